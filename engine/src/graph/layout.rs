//! A layered layout for the html picture, computed here so the page needs no library: columns by the
//! longest forward path (systems a flow receives from on the left, what it calls on the right), each
//! group (zone, flows, data types) a horizontal band across all columns, boxes within a band ordered by
//! the mean row of their neighbours, a few sweeps back and forth, so that arrows cross less.

use super::drawing::{Drawing, Line};
use std::collections::HashMap;

/// A box's width.
pub const NODE_W: f64 = 190.0;
/// A box's height.
pub const NODE_H: f64 = 40.0;
const COL_W: f64 = 290.0;
const ROW_H: f64 = 56.0;
const BAND_TOP: f64 = 30.0;
const BAND_BOTTOM: f64 = 14.0;
const BAND_GAP: f64 = 16.0;
const MARGIN: f64 = 20.0;

/// Where a box goes (its top-left corner).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
}

/// A group's band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Index into the drawing's groups.
    pub group: usize,
    /// Top.
    pub y: f64,
    /// Height.
    pub height: f64,
}

/// The computed layout of a drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// One per node, parallel to `Drawing::nodes`.
    pub places: Vec<Place>,
    /// One per non-empty group, top to bottom.
    pub bands: Vec<Band>,
    /// Size of the picture.
    pub width: f64,
    /// Size of the picture.
    pub height: f64,
}

/// Column of every node: longest path over the forward arrows (dashed ones, going back, are ignored;
/// so is any arrow closing a cycle).
fn columns(d: &Drawing, index: &HashMap<&str, usize>) -> Vec<usize> {
    let n = d.nodes.len();
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for a in d.arrows.iter().filter(|a| a.line != Line::Dashed) {
        if let (Some(&f), Some(&t)) = (index.get(a.from.as_str()), index.get(a.to.as_str())) {
            if f != t {
                out_edges[f].push(t);
            }
        }
    }
    // Depth-first post-order without recursion; an arrow to a node still on the stack closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    let mut order = Vec::with_capacity(n);
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); n];
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        mark[root] = Mark::Open;
        while let Some((v, i)) = stack.pop() {
            if let Some(&w) = out_edges[v].get(i) {
                stack.push((v, i + 1));
                match mark[w] {
                    Mark::New => {
                        forward[v].push(w);
                        mark[w] = Mark::Open;
                        stack.push((w, 0));
                    }
                    Mark::Done => forward[v].push(w),
                    Mark::Open => {}
                }
            } else {
                mark[v] = Mark::Done;
                order.push(v);
            }
        }
    }
    let mut column = vec![0usize; n];
    for &v in order.iter().rev() {
        for &w in &forward[v] {
            column[w] = column[w].max(column[v] + 1);
        }
    }
    column
}

/// Lays `d` out.
pub fn layout(d: &Drawing) -> Layout {
    let index: HashMap<&str, usize> = d.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let column = columns(d, &index);
    let columns_used = column.iter().copied().max().map_or(0, |m| m + 1);
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); d.nodes.len()];
    for a in &d.arrows {
        if let (Some(&f), Some(&t)) = (index.get(a.from.as_str()), index.get(a.to.as_str())) {
            neighbours[f].push(t);
            neighbours[t].push(f);
        }
    }
    // cells[group][column] = nodes, in order.
    let mut cells: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); columns_used]; d.groups.len()];
    for (i, n) in d.nodes.iter().enumerate() {
        cells[n.group][column[i]].push(i);
    }
    let band_rows: Vec<usize> = cells.iter().map(|g| g.iter().map(Vec::len).max().unwrap_or(0)).collect();
    // A global row per node: the band's first row plus the node's index in its cell, centred.
    let row_of = |cells: &Vec<Vec<Vec<usize>>>| -> Vec<f64> {
        let mut rows = vec![0.0; d.nodes.len()];
        let mut first = 0.0;
        for (g, group) in cells.iter().enumerate() {
            for cell in group {
                let offset = (band_rows[g] - cell.len()) as f64 / 2.0;
                for (k, &v) in cell.iter().enumerate() {
                    rows[v] = first + offset + k as f64;
                }
            }
            first += band_rows[g] as f64 + 1.0;
        }
        rows
    };
    for sweep in 0..6 {
        let rows = row_of(&cells);
        let cols: Vec<usize> =
            if sweep % 2 == 0 { (0..columns_used).collect() } else { (0..columns_used).rev().collect() };
        for c in cols {
            for group in cells.iter_mut() {
                let cell = &mut group[c];
                let mut keyed: Vec<(f64, usize, usize)> = cell
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| {
                        let near = &neighbours[v];
                        let mean = if near.is_empty() {
                            rows[v]
                        } else {
                            near.iter().map(|&w| rows[w]).sum::<f64>() / near.len() as f64
                        };
                        (mean, k, v)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                *cell = keyed.into_iter().map(|(_, _, v)| v).collect();
            }
        }
    }
    let mut places = vec![Place { x: 0.0, y: 0.0 }; d.nodes.len()];
    let mut bands = Vec::new();
    let mut y = MARGIN;
    for (g, group) in cells.iter().enumerate() {
        if band_rows[g] == 0 {
            continue;
        }
        let height = BAND_TOP + band_rows[g] as f64 * ROW_H - (ROW_H - NODE_H) + BAND_BOTTOM;
        for (c, cell) in group.iter().enumerate() {
            let offset = (band_rows[g] - cell.len()) as f64 / 2.0;
            for (k, &v) in cell.iter().enumerate() {
                places[v] =
                    Place { x: MARGIN + 20.0 + c as f64 * COL_W, y: y + BAND_TOP + (offset + k as f64) * ROW_H };
            }
        }
        bands.push(Band { group: g, y, height });
        y += height + BAND_GAP;
    }
    let width = MARGIN * 2.0 + 40.0 + (columns_used.max(1) - 1) as f64 * COL_W + NODE_W;
    Layout { places, bands, width, height: y - BAND_GAP + MARGIN }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::drawing::{Arrow, Node, Shape};

    fn drawing(nodes: &[(&str, usize)], arrows: &[(&str, &str)]) -> Drawing {
        let mut d = Drawing::default();
        d.group("a", "a", true);
        d.group("b", "b", false);
        for (id, g) in nodes {
            d.nodes.push(Node {
                id: id.to_string(),
                label: id.to_string(),
                detail: String::new(),
                shape: Shape::Step,
                group: *g,
            });
        }
        for (f, t) in arrows {
            d.arrows.push(Arrow {
                from: f.to_string(),
                to: t.to_string(),
                label: String::new(),
                detail: String::new(),
                line: Line::Solid,
                kind: "calls".into(),
                flow: None,
            });
        }
        d
    }

    #[test]
    fn each_node_sits_right_of_what_points_at_it_even_in_a_cycle() {
        let d = drawing(
            &[("in", 0), ("flow", 1), ("out", 0), ("back", 1)],
            &[("in", "flow"), ("flow", "out"), ("out", "back"), ("back", "flow")],
        );
        let l = layout(&d);
        assert!(l.places[0].x < l.places[1].x);
        assert!(l.places[1].x < l.places[2].x);
        assert!(l.places[2].x < l.places[3].x);
    }

    #[test]
    fn groups_are_bands_one_above_the_other_holding_their_nodes() {
        let d = drawing(&[("x", 0), ("y", 1), ("z", 0)], &[("x", "y"), ("y", "z")]);
        let l = layout(&d);
        assert_eq!(l.bands.len(), 2);
        let (a, b) = (l.bands[0], l.bands[1]);
        assert!(a.y + a.height <= b.y);
        for (i, n) in d.nodes.iter().enumerate() {
            let band = l.bands.iter().find(|band| band.group == n.group).unwrap();
            assert!(l.places[i].y >= band.y && l.places[i].y + NODE_H <= band.y + band.height);
        }
    }
}
