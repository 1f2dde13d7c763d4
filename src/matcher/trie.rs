//! Wildcard-suffix trie over reversed labels: `com → sharepoint → contoso`.
//!
//! Each node can hold an exact rule (the name ending here) and a wildcard rule (`*.` + the name
//! ending here). A lookup walks the host's labels from the right once, so its cost grows with
//! the number of labels, not with the number of patterns. Globs the trie cannot express hang
//! off the node of their fixed trailing labels and are tried only when the walk passes it.

use rustc_hash::FxHashMap;

use super::glob;
use super::RuleId;

const NONE: RuleId = RuleId::MAX;

#[derive(Default)]
struct Node {
    children: FxHashMap<Box<str>, u32>,
    exact: RuleId,
    wildcard: RuleId,
    globs: Box<[u32]>,
}

struct Glob {
    pattern: Box<str>,
    rule: RuleId,
    specificity: u32,
}

/// A name candidate found during a walk, ranked as the matching semantics require.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    rule: RuleId,
    /// Literal characters; `u32::MAX` for exact names.
    specificity: u32,
    /// 2 exact, 1 `*.suffix`, 0 glob: breaks specificity ties in favour of the simpler form.
    rank: u8,
    text: &'a str,
}

impl Candidate<'_> {
    /// Whether `self` is more specific than `other`. Ties between globs of equal literal
    /// length go to the lexicographically smaller pattern, so results never depend on
    /// catalogue order.
    fn beats(&self, other: &Candidate<'_>) -> bool {
        (self.specificity, self.rank) > (other.specificity, other.rank)
            || ((self.specificity, self.rank) == (other.specificity, other.rank)
                && self.text < other.text)
    }
}

/// Compiled names: exact, `*.suffix` and anchored globs.
pub struct NameTable {
    nodes: Vec<Node>,
    globs: Vec<Glob>,
}

/// Builder for [`NameTable`]; inserting the same pattern twice keeps the first rule id (the
/// matcher builder never does that).
pub struct NameTableBuilder {
    nodes: Vec<Node>,
    globs: Vec<Glob>,
    node_globs: Vec<Vec<u32>>,
}

impl Default for NameTableBuilder {
    fn default() -> Self {
        NameTableBuilder {
            nodes: vec![Node {
                exact: NONE,
                wildcard: NONE,
                ..Node::default()
            }],
            globs: Vec::new(),
            node_globs: vec![Vec::new()],
        }
    }
}

impl NameTableBuilder {
    /// The node for `name` (labels left to right), created on the way.
    fn node_for(&mut self, name: &str) -> usize {
        let mut at = 0usize;
        if name.is_empty() {
            return at;
        }
        for label in name.rsplit('.') {
            at = match self.nodes[at].children.get(label) {
                Some(&child) => child as usize,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node {
                        exact: NONE,
                        wildcard: NONE,
                        ..Node::default()
                    });
                    self.node_globs.push(Vec::new());
                    self.nodes[at].children.insert(label.into(), child as u32);
                    child
                }
            };
        }
        at
    }

    pub fn insert_exact(&mut self, name: &str, rule: RuleId) {
        let n = self.node_for(name);
        if self.nodes[n].exact == NONE {
            self.nodes[n].exact = rule;
        }
    }

    /// `*.suffix`, given the suffix.
    pub fn insert_suffix(&mut self, suffix: &str, rule: RuleId) {
        let n = self.node_for(suffix);
        if self.nodes[n].wildcard == NONE {
            self.nodes[n].wildcard = rule;
        }
    }

    pub fn insert_glob(&mut self, pattern: &str, specificity: u32, rule: RuleId) {
        let n = self.node_for(glob::anchor_labels(pattern));
        self.node_globs[n].push(self.globs.len() as u32);
        self.globs.push(Glob {
            pattern: pattern.into(),
            rule,
            specificity,
        });
    }

    pub fn build(mut self) -> NameTable {
        for (node, globs) in self.nodes.iter_mut().zip(self.node_globs) {
            node.globs = globs.into_boxed_slice();
            node.children.shrink_to_fit();
        }
        NameTable {
            nodes: self.nodes,
            globs: self.globs,
        }
    }
}

impl NameTable {
    /// The most specific rule matching `name` among those `accept` lets through (the port
    /// filter). `name` must be normalised (see [`crate::host`]).
    #[inline]
    pub fn lookup(&self, name: &str, accept: impl Fn(RuleId) -> bool) -> Option<RuleId> {
        let mut best: Option<Candidate<'_>> = None;
        let mut node = &self.nodes[0];
        self.try_globs(node, name, &accept, &mut best);
        let mut rest = name;
        loop {
            let (left, label) = match rest.rfind('.') {
                Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
                None => (None, rest),
            };
            let Some(&child) = node.children.get(label) else {
                break;
            };
            node = &self.nodes[child as usize];
            self.try_globs(node, name, &accept, &mut best);
            match left {
                Some(left) => {
                    if node.wildcard != NONE && accept(node.wildcard) {
                        // Deeper suffixes are longer, so they beat shallower ones; globs found
                        // so far may still be more specific.
                        let c = Candidate {
                            rule: node.wildcard,
                            specificity: (name.len() - left.len()) as u32,
                            rank: 1,
                            text: "",
                        };
                        if best.is_none_or(|b| c.beats(&b)) {
                            best = Some(c);
                        }
                    }
                    rest = left;
                }
                None => {
                    if node.exact != NONE && accept(node.exact) {
                        return Some(node.exact);
                    }
                    break;
                }
            }
        }
        best.map(|c| c.rule)
    }

    #[inline]
    fn try_globs<'a>(
        &'a self,
        node: &Node,
        name: &str,
        accept: &impl Fn(RuleId) -> bool,
        best: &mut Option<Candidate<'a>>,
    ) {
        for &g in node.globs.iter() {
            let g = &self.globs[g as usize];
            if glob::matches(g.pattern.as_bytes(), name.as_bytes()) && accept(g.rule) {
                let c = Candidate {
                    rule: g.rule,
                    specificity: g.specificity,
                    rank: 0,
                    text: &g.pattern,
                };
                if best.is_none_or(|b| c.beats(&b)) {
                    *best = Some(c);
                }
            }
        }
    }

    /// Number of trie nodes (for benchmarks and logs).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn glob_count(&self) -> usize {
        self.globs.len()
    }
}
