//! `.test.flow` files -> the tree a `*.test.yaml` file gives: `{ flow, tests: { NAME: { now, input, mocks,
//! expect } } }`, so that one lowering serves both syntaxes of flow tests too.

use super::values::{Builder, Entries};
use super::Rule;
use crate::syntax::{Entry, Node, Value};
use pest::iterators::Pair;

impl Builder<'_> {
    /// The `test_file` pair -> the test document.
    pub fn test_document(&mut self, file: Pair<'_, Rule>) -> Node {
        let whole = self.span(&file);
        let mut doc = Entries::default();
        let Some(block) = file.into_inner().find(|p| p.as_rule() == Rule::tests_block) else {
            return Node::map(Vec::new(), whole);
        };
        let block_span = self.span(&block);
        let mut parts = block.into_inner();
        let keyword = parts.next().map(|k| self.span(&k)).unwrap_or(block_span);
        if let Some(name) = parts.next() {
            let value = self.value(name);
            doc.put(self, "flow", keyword, value);
        }
        let mut tests = Entries::default();
        let mut tests_key = None;
        for case in parts.filter(|p| p.as_rule() == Rule::test_case) {
            let case_span = self.span(&case);
            let mut items = case.into_inner();
            let case_keyword = items.next().map(|k| self.span(&k)).unwrap_or(case_span);
            tests_key.get_or_insert(case_keyword);
            let Some(name) = items.next() else { continue };
            let name_span = self.span(&name);
            let name = self.value(name).as_str().unwrap_or_default().to_string();
            let mut body = Entries::default();
            let mut mocks: Vec<Node> = Vec::new();
            let mut mocks_key = None;
            for item in items {
                let item_span = self.span(&item);
                let rule = item.as_rule();
                let mut inner = item.into_inner();
                let Some(kw) = inner.next() else { continue };
                let kw_span = self.span(&kw);
                match rule {
                    Rule::test_now
                    | Rule::test_fire_time
                    | Rule::test_input
                    | Rule::test_request
                    | Rule::test_expect => {
                        let key = match rule {
                            Rule::test_now => "now",
                            Rule::test_fire_time => "fire_time",
                            Rule::test_input => "input",
                            Rule::test_request => "request",
                            _ => "expect",
                        };
                        if let Some(v) = inner.next() {
                            let v = self.value(v);
                            body.put(self, key, kw_span, v);
                        }
                    }
                    Rule::test_mock => {
                        mocks_key.get_or_insert(kw_span);
                        let mut mock = Entries::default();
                        let (Some(selector), Some(target)) = (inner.next(), inner.next()) else { continue };
                        let key = if selector.as_rule() == Rule::kw_step { "step" } else { "component" };
                        let at = self.span(&selector);
                        let target = self.value(target);
                        mock.put(self, key, at, target);
                        if let Some(map) = inner.next() {
                            let map = self.value(map);
                            mock.merge(self, map);
                        }
                        mocks.push(mock.into_node(item_span));
                    }
                    _ => {}
                }
            }
            if let Some(key_span) = mocks_key {
                let span = mocks.iter().map(|n| n.span).reduce(|a, b| a.to(b)).unwrap_or(key_span);
                body.0.push(Entry { key: "mocks".into(), key_span, value: Node::new(Value::List(mocks), span) });
            }
            tests.push(self, name, name_span, body.into_node(case_span));
        }
        if let Some(key_span) = tests_key {
            doc.0.push(Entry { key: "tests".into(), key_span, value: tests.into_node(block_span) });
        }
        doc.into_node(whole)
    }
}
