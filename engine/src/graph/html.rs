//! A drawing as one self-contained HTML page: an inline SVG laid out by [`super::layout`], inline CSS and
//! a little inline script, nothing fetched. Zones are labelled regions; clicking a flow highlights its
//! path (its arrows, the sub-flows it calls and theirs, the systems at their ends) and lists its steps;
//! `#flow=NAME` in the address selects one on load (how the headless-browser test clicks).

use super::drawing::{Drawing, Line, Shape};
use super::layout::{layout, NODE_H, NODE_W};
use std::fmt::Write;

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn shape_class(s: Shape) -> &'static str {
    match s {
        Shape::System => "system",
        Shape::Flow => "flow",
        Shape::SubFlow => "sub_flow",
        Shape::DataType => "data_type",
        Shape::Step => "step",
        Shape::Scope => "scope",
        Shape::Handler => "handler",
        Shape::Terminal => "terminal",
    }
}

/// A label cut to what fits a box.
fn fit(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(chars - 1).collect::<String>())
    }
}

const STYLE: &str = r#"
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d2430; background: #fbfbfd; }
header { padding: 10px 20px; border-bottom: 1px solid #dde2ea; background: #fff; }
header h1 { font-size: 16px; margin: 0 0 2px; }
header p { margin: 0; color: #5b6575; }
#wrap { display: flex; align-items: flex-start; }
#canvas { overflow: auto; flex: 1; }
#graph { max-width: 100%; height: auto; }
#info { width: 320px; padding: 12px 16px; border-left: 1px solid #dde2ea; min-height: 200px; background: #fff; font-size: 12px; }
#info h2 { font-size: 14px; margin: 0 0 6px; }
#info li { margin-bottom: 4px; }
.band rect { fill: #f3f5f9; stroke: #d6dbe4; }
.band.zone rect { stroke-dasharray: 6 4; }
.band.zone-partner rect { fill: #fff4e8; stroke: #e5b07a; }
.band.zone-private rect { fill: #eef8ef; stroke: #86c08f; }
.band.zone-internal rect { fill: #eef3fb; stroke: #93acd6; }
.band text { font-weight: 600; fill: #4a5566; font-size: 12px; }
.node rect { fill: #fff; stroke: #7d8aa0; rx: 6; }
.node.flow rect { stroke: #2b5fb3; stroke-width: 1.6; rx: 18; }
.node.sub_flow rect { stroke: #2b5fb3; stroke-dasharray: 4 3; rx: 18; }
.node.data_type rect { fill: #fbf7ff; stroke: #9a7cc7; }
.node.scope rect { fill: #fffbea; stroke: #c9a227; }
.node.handler rect { fill: #fff0f0; stroke: #cc6666; stroke-dasharray: 4 3; }
.node.terminal rect { fill: #e9ecf2; rx: 20; }
.node .label { font-weight: 600; font-size: 12px; }
.node .detail { fill: #5b6575; font-size: 10px; }
.node.flow, .node.sub_flow { cursor: pointer; }
.edge path { fill: none; stroke: #8a96ab; stroke-width: 1.2; }
.edge.dashed path { stroke-dasharray: 6 4; stroke: #c46a6a; }
.edge.dotted path { stroke-dasharray: 2 3; stroke: #a892cf; }
.edge text { font-size: 9.5px; fill: #3e4a5c; paint-order: stroke; stroke: #fbfbfd; stroke-width: 3px; }
svg.focus .edge:not(.hl), svg.focus .node:not(.hl) { opacity: 0.18; }
.edge.hl path { stroke: #d2452b; stroke-width: 2.4; }
.node.hl rect { stroke: #d2452b; stroke-width: 2.4; }
"#;

const SCRIPT: &str = r#"
(function () {
  var svg = document.getElementById('graph');
  var edges = Array.prototype.slice.call(svg.querySelectorAll('.edge'));
  var nodes = Array.prototype.slice.call(svg.querySelectorAll('.node'));
  var info = document.getElementById('info');
  var kindOf = {};
  nodes.forEach(function (n) { kindOf[n.getAttribute('data-id')] = n.getAttribute('class'); });
  function isFlow(id) { return /\b(flow|sub_flow)\b/.test(kindOf[id] || ''); }
  // A flow's path: the flow, the flows it calls, and the flows that receive from what it sends to (a
  // queue's consumers), and theirs.
  function path(flow) {
    var flows = [flow], seen = {}; seen[flow] = true;
    function add(id) { if (isFlow(id) && !seen[id]) { seen[id] = true; flows.push(id); } }
    for (var i = 0; i < flows.length; i++) {
      edges.forEach(function (e) {
        if (e.getAttribute('data-flow') !== flows[i] || e.getAttribute('data-kind') === 'receives') { return; }
        var to = e.getAttribute('data-to');
        add(to);
        edges.forEach(function (r) {
          if (r.getAttribute('data-from') === to && r.getAttribute('data-kind') === 'receives') { add(r.getAttribute('data-to')); }
        });
      });
    }
    return seen;
  }
  var selected = null;
  function clear() {
    svg.classList.remove('focus');
    edges.concat(nodes).forEach(function (el) { el.classList.remove('hl'); });
    info.innerHTML = '<p>Click a flow to highlight its path.</p>';
    document.body.removeAttribute('data-selected');
  }
  function select(id) {
    clear();
    if (selected === id) { selected = null; return; }
    selected = id;
    var flows = path(id), ends = {}, items = [];
    ends[id] = true;
    edges.forEach(function (e) {
      if (flows[e.getAttribute('data-flow')]) {
        e.classList.add('hl');
        ends[e.getAttribute('data-from')] = true;
        ends[e.getAttribute('data-to')] = true;
        var title = e.querySelector('title');
        items.push('<li><b>' + e.getAttribute('data-from').replace(/^\w+:/, '') + ' → ' + e.getAttribute('data-to').replace(/^\w+:/, '') +
          '</b> ' + (e.getAttribute('data-label') || '') + '<br><small>' + (title ? title.textContent : '').replace(/</g, '&lt;').replace(/\n/g, '<br>') + '</small></li>');
      }
    });
    nodes.forEach(function (n) { if (ends[n.getAttribute('data-id')]) { n.classList.add('hl'); } });
    svg.classList.add('focus');
    document.body.setAttribute('data-selected', id);
    info.innerHTML = '<h2>' + id.replace(/^flow:/, '') + '</h2><ul>' + items.join('') + '</ul>';
  }
  nodes.forEach(function (n) {
    if (isFlow(n.getAttribute('data-id'))) {
      n.addEventListener('click', function () { select(n.getAttribute('data-id')); });
    }
  });
  clear();
  var m = /^#flow=(.+)$/.exec(location.hash);
  if (m) {
    var target = svg.querySelector('.node[data-id="flow:' + decodeURIComponent(m[1]).replace(/"/g, '') + '"]');
    if (target) { target.dispatchEvent(new MouseEvent('click', { bubbles: true })); }
  }
})();
"#;

/// Renders `d` as a complete HTML document; `subtitle` says what is drawn.
pub fn render(d: &Drawing, subtitle: &str) -> String {
    let l = layout(d);
    let index: std::collections::HashMap<&str, usize> =
        d.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">",
        w = l.width,
        h = l.height
    );
    svg.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#8a96ab\"/></marker></defs>\n");
    for band in &l.bands {
        let g = &d.groups[band.group];
        let class = if g.zone { format!("band zone {}", esc(&g.id.replace(':', "-"))) } else { "band".into() };
        let _ = writeln!(
            svg,
            "<g class=\"{class}\" data-group=\"{id}\"><rect x=\"8\" y=\"{y:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" rx=\"10\"/><text x=\"20\" y=\"{ty:.0}\">{label}</text></g>",
            id = esc(&g.id),
            y = band.y,
            w = l.width - 16.0,
            h = band.height,
            ty = band.y + 19.0,
            label = esc(&g.label)
        );
    }
    for a in &d.arrows {
        let (Some(&f), Some(&t)) = (index.get(a.from.as_str()), index.get(a.to.as_str())) else { continue };
        let (p, q) = (l.places[f], l.places[t]);
        let (x1, y1, x2, y2, path) = if q.x > p.x + 1.0 {
            let (x1, y1, x2, y2) = (p.x + NODE_W, p.y + NODE_H / 2.0, q.x, q.y + NODE_H / 2.0);
            let dx = (x2 - x1) / 2.0;
            (x1, y1, x2, y2, format!("M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}", x1 + dx, x2 - dx))
        } else {
            // Back, or within one column: leave from the bottom, arrive at the bottom, curving below.
            let (x1, y1, x2, y2) = (p.x + NODE_W / 2.0, p.y + NODE_H, q.x + NODE_W / 2.0, q.y + NODE_H);
            let low = y1.max(y2) + 30.0;
            (x1, y1, x2, y2, format!("M{x1:.1},{y1:.1} C{x1:.1},{low:.1} {x2:.1},{low:.1} {x2:.1},{y2:.1}"))
        };
        let class = match a.line {
            Line::Solid => "edge",
            Line::Dashed => "edge dashed",
            Line::Dotted => "edge dotted",
        };
        let marker = if a.line == Line::Dotted { "" } else { " marker-end=\"url(#arrow)\"" };
        let _ = write!(
            svg,
            "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\" data-kind=\"{}\" data-flow=\"{}\" data-label=\"{}\"><title>{}</title><path d=\"{path}\"{marker}/>",
            esc(&a.from),
            esc(&a.to),
            esc(&a.kind),
            esc(a.flow.as_deref().unwrap_or("")),
            esc(&a.label),
            esc(&a.detail)
        );
        // The direction is the arrow's own; on the picture the label says the type and the volume.
        let shown = a.label.strip_prefix(a.kind.as_str()).unwrap_or(&a.label).trim_start_matches([' ', '·']).trim();
        if !shown.is_empty() {
            let (mx, my) = if q.x > p.x + 1.0 {
                ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 4.0)
            } else {
                ((x1 + x2) / 2.0, y1.max(y2) + 26.0)
            };
            let _ =
                write!(svg, "<text x=\"{mx:.1}\" y=\"{my:.1}\" text-anchor=\"middle\">{}</text>", esc(&fit(shown, 48)));
        }
        svg.push_str("</g>\n");
    }
    for (i, n) in d.nodes.iter().enumerate() {
        let p = l.places[i];
        let _ = writeln!(
            svg,
            "<g class=\"node {}\" data-id=\"{}\"><title>{}</title><rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{NODE_W:.0}\" height=\"{NODE_H:.0}\"/><text class=\"label\" x=\"{tx:.0}\" y=\"{ty:.0}\">{}</text><text class=\"detail\" x=\"{tx:.0}\" y=\"{dy:.0}\">{}</text></g>",
            shape_class(n.shape),
            esc(&n.id),
            esc(&format!("{}\n{}", n.label, n.detail)),
            esc(&fit(&n.label, 26)),
            esc(&fit(&n.detail, 34)),
            x = p.x,
            y = p.y,
            tx = p.x + 10.0,
            ty = p.y + 17.0,
            dy = p.y + 32.0
        );
    }
    svg.push_str("</svg>");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header><h1>{title}</h1><p>{subtitle}</p></header>\n<div id=\"wrap\"><div id=\"canvas\">\n{svg}\n</div><aside id=\"info\"></aside></div>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        title = esc(&d.title),
        subtitle = esc(subtitle)
    )
}
