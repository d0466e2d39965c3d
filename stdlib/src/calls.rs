//! Calls a compiled script makes to functions that cannot exist: a mistyped name or a wrong number of
//! arguments would otherwise pass `relais check` and fail at run time on every event.
//!
//! The check is conservative: it only reports a call when no function of that name and arity can be found
//! at run time. Namespaced calls, operators and Rhai's keyword functions (`Fn`, `call`, `type_of`, ...) are
//! never reported; neither is a call named like a variable (a variable may hold a function pointer), nor a
//! method call in a script that makes function pointers (a map property may hold one).

use rhai::{ASTNode, Dynamic, Engine, Expr, FnCallExpr, FnPtr, Position, Stmt, AST};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Functions Rhai's evaluator handles itself, whatever the registered modules hold.
const KEYWORD_FUNCTIONS: &[&str] =
    &["Fn", "call", "curry", "type_of", "print", "debug", "eval", "is_shared", "is_def_fn", "is_def_var", "this"];

/// The functions an engine has registered, by name, with the arities each name is registered with.
#[derive(Debug, Clone, Default)]
pub struct FunctionTable {
    arities: BTreeMap<String, BTreeSet<usize>>,
}

impl FunctionTable {
    /// Every function registered in `engine`, its packages included.
    pub fn of(engine: &Engine) -> Self {
        let mut table = Self::default();
        for (name, arity) in
            engine.collect_fn_metadata(None, |f| Some((f.metadata.name.to_string(), f.metadata.num_params)), true)
        {
            table.arities.entry(name).or_default().insert(arity);
        }
        table
    }

    /// The names registered, for "did you mean" hints.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.arities.keys().map(String::as_str)
    }
}

/// A call no function answers: its name, the number of arguments it passes (the object included for a
/// method call), where it is in the script, and the arities that name exists with (empty: no such name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCall {
    /// The function name as written.
    pub name: String,
    /// Arguments passed, counting a method call's object.
    pub args: usize,
    /// Position of the call in the script (1-based line and column), when Rhai knows it.
    pub position: Option<(usize, usize)>,
    /// Whether it is a method call (`x.f(a)`), whose object is the first argument.
    pub method: bool,
    /// Arities the name is known with, registered or defined by the script; empty when the name is unknown.
    pub arities: Vec<usize>,
}

/// The calls in `ast` that no function registered in `table` nor defined by the script itself can answer.
pub fn bad_calls(table: &FunctionTable, ast: &AST) -> Vec<BadCall> {
    // The script's own functions are looked up beside the table rather than merged into a copy of it: the
    // table holds every registered function, and copying it per script was most of `relais check`'s time.
    let mut own: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut variables: HashSet<String> = crate::SCRIPT_VARIABLES.iter().map(|v| v.to_string()).collect();
    let mut makes_fn_pointers = false;
    for f in ast.iter_functions() {
        // A script function is called as `f(a, b)` or as a method `a.f(b)` (with `this` bound to `a`).
        let entry = own.entry(f.name.to_string()).or_default();
        entry.insert(f.params.len());
        entry.insert(f.params.len() + 1);
        variables.extend(f.params.iter().map(|p| p.to_string()));
        makes_fn_pointers |= f.name.starts_with("anon$");
    }
    // What the filter below reads of each call (name, whether namespaced or an operator, argument count),
    // rather than a clone of the call with its argument trees.
    let mut calls: Vec<(rhai::ImmutableString, bool, usize, Position, bool)> = Vec::new();
    let summary =
        |call: &FnCallExpr| (call.name.clone(), !call.namespace.is_empty() || call.is_operator_call(), call.args.len());
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, ..))) => {
                variables.insert(x.0.name.to_string());
            }
            Some(ASTNode::Stmt(Stmt::For(x, ..))) => {
                variables.insert(x.0.name.to_string());
                variables.extend(x.1.as_ref().map(|i| i.name.to_string()));
            }
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) | Some(ASTNode::Expr(Expr::FnCall(call, pos))) => {
                makes_fn_pointers |= call.name == "Fn";
                let (name, skip, args) = summary(call);
                calls.push((name, skip, args, *pos, false));
            }
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => {
                let (name, skip, args) = summary(call);
                calls.push((name, skip, args, *pos, true));
            }
            Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => makes_fn_pointers |= is_fn_ptr(value),
            _ => {}
        }
        true
    });
    calls
        .into_iter()
        .filter_map(|(name, namespaced_or_operator, args, pos, method)| {
            let name = name.as_str();
            let plain_identifier = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if namespaced_or_operator
                || !plain_identifier
                || KEYWORD_FUNCTIONS.contains(&name)
                || (method && makes_fn_pointers)
                || (!method && variables.contains(name))
            {
                return None;
            }
            let args = args + usize::from(method);
            let arities: Vec<usize> = table
                .arities
                .get(name)
                .into_iter()
                .chain(own.get(name))
                .flatten()
                .copied()
                .collect::<BTreeSet<usize>>()
                .into_iter()
                .collect();
            if arities.contains(&args) {
                return None;
            }
            let position = pos.line().map(|l| (l, pos.position().unwrap_or(1)));
            Some(BadCall { name: name.to_string(), args, position, method, arities })
        })
        .collect()
}

fn is_fn_ptr(value: &Dynamic) -> bool {
    value.is::<FnPtr>()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{build_engine, compile, Limits, Lookups};

    fn bad(code: &str) -> Vec<(String, usize, Vec<usize>)> {
        let engine = build_engine(&Limits::default(), Lookups::default());
        let ast = compile(&engine, code, &[]).unwrap();
        bad_calls(&FunctionTable::of(&engine), &ast).into_iter().map(|c| (c.name, c.args, c.arities)).collect()
    }

    #[test]
    fn a_mistyped_function_name_is_a_bad_call_with_no_arities() {
        assert_eq!(bad("to_e165(payload.phone)"), vec![("to_e165".to_string(), 1, vec![])]);
    }

    #[test]
    fn a_known_function_called_with_the_wrong_arity_lists_its_arities() {
        let found = bad(r#"upper("a", "b")"#);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "upper");
        assert_eq!(found[0].1, 2);
        assert!(found[0].2.contains(&1), "{found:?}");
    }

    #[test]
    fn registered_script_defined_method_and_dynamic_calls_are_accepted() {
        for code in [
            "upper(payload.name)",
            "payload.name.len()",
            r#""abc".upper()"#,
            "fn twice(x) { x * 2 } twice(2)",
            "fn twice(x) { x * 2 } 2.twice()",
            "fn area() { this.w * this.h } let r = #{ w: 1, h: 2 }; r.area()",
            "let f = |x| x + 1; f(1)",
            "let f = Fn(\"upper\"); f.call(\"a\")",
            "let o = #{ act: |x| x }; o.act(1)",
            "type_of(payload)",
            "1 + 2 == 3 && \"a\" in [\"a\"]",
            "payload?.name ?? \"x\"",
        ] {
            assert_eq!(bad(code), vec![], "{code}");
        }
    }
}
