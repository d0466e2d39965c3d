//! A drawing in Graphviz DOT (`dot -Tsvg`): zones as clusters, arrows labelled.

use super::drawing::{Drawing, Line, Shape};
use std::fmt::Write;

/// A DOT string literal.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

fn node(out: &mut String, n: &super::drawing::Node, indent: &str) {
    let label = if n.detail.is_empty() { n.label.clone() } else { format!("{}\n{}", n.label, n.detail) };
    let shape = match n.shape {
        Shape::System => "box, style=\"rounded,filled\", fillcolor=\"#eef3fb\"",
        Shape::Flow => "box, style=\"rounded,bold\"",
        Shape::SubFlow => "box, style=\"rounded,dashed\"",
        Shape::DataType => "parallelogram",
        Shape::Step => "box",
        Shape::Scope => "hexagon",
        Shape::Handler => "box, style=\"dashed\"",
        Shape::Terminal => "circle",
    };
    let _ = writeln!(out, "{indent}{} [label={}, shape={shape}];", quote(&n.id), quote(&label));
}

/// Renders `d` as a DOT digraph.
pub fn render(d: &Drawing) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&d.title));
    out.push_str(
        "  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for (g, group) in d.groups.iter().enumerate() {
        let members: Vec<_> = d.nodes.iter().filter(|n| n.group == g).collect();
        if members.is_empty() {
            continue;
        }
        if group.zone {
            let _ = writeln!(out, "  subgraph {} {{", quote(&format!("cluster_{}", group.id)));
            let _ = writeln!(out, "    label={};\n    style=rounded;", quote(&group.label));
            for n in members {
                node(&mut out, n, "    ");
            }
            out.push_str("  }\n");
        } else {
            for n in members {
                node(&mut out, n, "  ");
            }
        }
    }
    for a in &d.arrows {
        let style = match a.line {
            Line::Solid => "",
            Line::Dashed => ", style=dashed",
            Line::Dotted => ", style=dotted, arrowhead=none",
        };
        let _ = writeln!(out, "  {} -> {} [label={}{style}];", quote(&a.from), quote(&a.to), quote(&a.label));
    }
    out.push_str("}\n");
    out
}
