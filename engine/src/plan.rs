//! The DAG of a checked runbook (petgraph), and the graph questions both
//! the validator and the executor ask: cycles, reachability, ancestors,
//! predecessors.

use fixedbitset::FixedBitSet;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, EdgeRef};
use petgraph::Direction;

use crate::model::{Next, Runbook, StepIdx};

/// Why an edge exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// From `next`: rule `rule` (or the fan-out list when `None`).
    Next {
        /// Index of the rule in `next`, if `next` is a rule list.
        rule: Option<usize>,
    },
    /// From `on_failure`.
    OnFailure,
}

/// The planned DAG. Node `i` is step `i`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The graph.
    pub graph: DiGraph<StepIdx, EdgeKind>,
}

impl Plan {
    /// Builds the graph of `runbook`'s steps.
    pub fn new(runbook: &Runbook) -> Plan {
        let mut graph = DiGraph::with_capacity(runbook.steps.len(), runbook.steps.len() * 2);
        for i in 0..runbook.steps.len() {
            graph.add_node(i);
        }
        for (i, step) in runbook.steps.iter().enumerate() {
            match &step.next {
                Next::End => {}
                Next::All(targets) => {
                    for &t in targets {
                        graph.add_edge(
                            NodeIndex::new(i),
                            NodeIndex::new(t),
                            EdgeKind::Next { rule: None },
                        );
                    }
                }
                Next::Rules(rules) => {
                    for (r, rule) in rules.iter().enumerate() {
                        for &t in &rule.goto {
                            graph.add_edge(
                                NodeIndex::new(i),
                                NodeIndex::new(t),
                                EdgeKind::Next { rule: Some(r) },
                            );
                        }
                    }
                }
            }
            if let Some(t) = step.on_failure {
                graph.add_edge(NodeIndex::new(i), NodeIndex::new(t), EdgeKind::OnFailure);
            }
        }
        Plan { graph }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Distinct predecessors of each step (an edge pair counts once).
    pub fn predecessors(&self) -> Vec<Vec<StepIdx>> {
        let mut preds = vec![Vec::new(); self.len()];
        for e in self.graph.edge_references() {
            let (from, to) = (e.source().index(), e.target().index());
            if !preds[to].contains(&from) {
                preds[to].push(from);
            }
        }
        preds
    }

    /// Distinct successors of `step`.
    pub fn successors(&self, step: StepIdx) -> Vec<StepIdx> {
        let mut out: Vec<StepIdx> = self
            .graph
            .neighbors_directed(NodeIndex::new(step), Direction::Outgoing)
            .map(|n| n.index())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// One cycle, as the steps along it with the first repeated at the end,
    /// or `None` for a DAG.
    pub fn find_cycle(&self) -> Option<Vec<StepIdx>> {
        let start = match petgraph::algo::toposort(&self.graph, None) {
            Ok(_) => return None,
            Err(cycle) => cycle.node_id(),
        };
        // Breadth-first from `start`'s successors back to `start`.
        let n = self.len();
        let mut parent: Vec<Option<usize>> = vec![None; n];
        let mut seen = FixedBitSet::with_capacity(n);
        let mut queue = std::collections::VecDeque::new();
        for s in self.graph.neighbors(start) {
            if !seen.put(s.index()) {
                parent[s.index()] = Some(start.index());
                queue.push_back(s.index());
            }
        }
        while let Some(v) = queue.pop_front() {
            if v == start.index() {
                let mut path = vec![v];
                let mut cur = parent[v];
                while let Some(p) = cur {
                    path.push(p);
                    if p == start.index() {
                        break;
                    }
                    cur = parent[p];
                }
                path.reverse();
                return Some(path);
            }
            for s in self.graph.neighbors(NodeIndex::new(v)) {
                if !seen.put(s.index()) {
                    parent[s.index()] = Some(v);
                    queue.push_back(s.index());
                }
            }
        }
        Some(vec![start.index(), start.index()])
    }

    /// Steps reachable from the entry (step 0), entry included.
    pub fn reachable(&self) -> FixedBitSet {
        let mut seen = FixedBitSet::with_capacity(self.len());
        if self.is_empty() {
            return seen;
        }
        let mut dfs = Dfs::new(&self.graph, NodeIndex::new(0));
        while let Some(n) = dfs.next(&self.graph) {
            seen.insert(n.index());
        }
        seen
    }

    /// For each step, the set of steps that can run before it on some path
    /// (its strict ancestors). Only meaningful for a DAG; linear in edges
    /// times steps/64.
    pub fn ancestors(&self) -> Vec<FixedBitSet> {
        let n = self.len();
        let mut anc = vec![FixedBitSet::with_capacity(n); n];
        let Ok(order) = petgraph::algo::toposort(&self.graph, None) else {
            return anc;
        };
        for v in order {
            let preds: Vec<usize> = self
                .graph
                .neighbors_directed(v, Direction::Incoming)
                .map(|p| p.index())
                .collect();
            for p in preds {
                let (src, dst) = if p < v.index() {
                    let (a, b) = anc.split_at_mut(v.index());
                    (&a[p], &mut b[0])
                } else {
                    let (a, b) = anc.split_at_mut(p);
                    (&b[0], &mut a[v.index()])
                };
                dst.union_with(src);
                dst.insert(p);
            }
        }
        anc
    }
}
