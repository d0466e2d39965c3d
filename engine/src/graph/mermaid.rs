//! A drawing as a Mermaid `flowchart` (GitHub renders it in Markdown): zones as subgraphs, systems as
//! boxes, flows as stadiums, sub-flows as subroutines, data types as parallelograms.

use super::drawing::{Drawing, Line, Shape};
use std::collections::HashMap;
use std::fmt::Write;

/// Mermaid ids: letters, digits and `_` only, unique.
fn ids(d: &Drawing) -> HashMap<&str, String> {
    let mut out = HashMap::new();
    let mut used = std::collections::HashSet::new();
    for (i, n) in d.nodes.iter().enumerate() {
        let mut id: String = n.id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        if !used.insert(id.clone()) {
            id = format!("{id}_{i}");
            used.insert(id.clone());
        }
        out.insert(n.id.as_str(), id);
    }
    out
}

/// Text inside `"..."`: Mermaid's entity for a quote, `<br/>` for a line break.
fn text(s: &str) -> String {
    s.replace('"', "#quot;").replace('\n', "<br/>")
}

/// Renders `d` as Mermaid text.
pub fn render(d: &Drawing) -> String {
    let ids = ids(d);
    let mut out = String::from("flowchart LR\n");
    let node = |out: &mut String, n: &super::drawing::Node, indent: &str| {
        let label = if n.detail.is_empty() {
            text(&n.label)
        } else {
            format!("{}<br/><i>{}</i>", text(&n.label), text(&n.detail))
        };
        let (open, close) = match n.shape {
            Shape::System => ("[\"", "\"]"),
            Shape::Flow => ("([\"", "\"])"),
            Shape::SubFlow => ("[[\"", "\"]]"),
            Shape::DataType => ("[/\"", "\"/]"),
            Shape::Step => ("[\"", "\"]"),
            Shape::Scope => ("{{\"", "\"}}"),
            Shape::Handler => ("[\\\"", "\"\\]"),
            Shape::Terminal => ("((\"", "\"))"),
        };
        let _ = writeln!(out, "{indent}{}{open}{label}{close}", ids[n.id.as_str()]);
    };
    for (g, group) in d.groups.iter().enumerate() {
        let members: Vec<_> = d.nodes.iter().filter(|n| n.group == g).collect();
        if members.is_empty() {
            continue;
        }
        if group.zone {
            let id: String = group.id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let _ = writeln!(out, "  subgraph {id}[\"{}\"]", text(&group.label));
            for n in members {
                node(&mut out, n, "    ");
            }
            out.push_str("  end\n");
        } else {
            for n in members {
                node(&mut out, n, "  ");
            }
        }
    }
    for a in &d.arrows {
        let (Some(from), Some(to)) = (ids.get(a.from.as_str()), ids.get(a.to.as_str())) else { continue };
        let arrow = match a.line {
            Line::Solid => "-->",
            Line::Dashed => "-.->",
            Line::Dotted => "-.-",
        };
        if a.label.is_empty() {
            let _ = writeln!(out, "  {from} {arrow} {to}");
        } else {
            let _ = writeln!(out, "  {from} {arrow}|\"{}\"| {to}", text(&a.label));
        }
    }
    out
}
