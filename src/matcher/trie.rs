//! Wildcard-suffix trie over reversed labels (`com → sharepoint → contoso`), stored as one
//! flat hash table of node paths.
//!
//! Each trie node is a suffix of some pattern (`com`, `sharepoint.com`, …) and can hold an
//! exact rule (the name ending there) and a wildcard rule (`*.` + that suffix). Instead of
//! following child pointers, a lookup hashes the host's suffixes label by label from the right
//! (`com`, `sharepoint.com`, `contoso.sharepoint.com`) and probes one open-addressing table
//! with each key. The keys do not depend on earlier probes, so the CPU overlaps the memory
//! accesses; a miss ends the walk, because a suffix that is not a node has no descendants.
//! Cost grows with the host's label count, never with the catalogue.
//!
//! Keys are 64-bit hashes seeded per build, so the fast walk trusts a hit without comparing
//! text, and only the winning node's suffix is compared at the end. If that comparison ever
//! fails (a hash collision), the lookup is redone comparing every node: results are always
//! exact, a collision only costs time.
//!
//! Globs the trie cannot express hang off the node of their fixed trailing labels and are
//! tried only when the walk passes it.

use super::glob;
use super::RuleId;

const NONE: u32 = u32::MAX;
const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xff51_afd7_ed55_8ccd;

/// Extends a suffix key by the label `name[start..end]`.
///
/// Reads whole words from the label's end leftwards. The last, partial word is read as a
/// whole word overlapping the neighbouring bytes (before the label if there are enough,
/// else after it) and shifted or masked clear of them, so there is no byte loop and no copy
/// except for names shorter than a word. The label length is mixed in first, so the
/// encoding is unambiguous.
#[inline]
fn step(key: u64, name: &[u8], start: usize, end: usize) -> u64 {
    let mut h = (key ^ (end - start) as u64).wrapping_mul(K1);
    let mut e = end;
    while e - start >= 8 {
        h = (h.rotate_left(23) ^ read_u64(&name[e - 8..e])).wrapping_mul(K2);
        e -= 8;
    }
    let r = e - start;
    if r > 0 {
        let w = if e >= 8 {
            read_u64(&name[e - 8..e]) >> (8 * (8 - r))
        } else if start + 8 <= name.len() {
            read_u64(&name[start..start + 8]) & ((1u64 << (8 * r)) - 1)
        } else {
            name[start..e]
                .iter()
                .rev()
                .fold(0u64, |w, &b| (w << 8) | u64::from(b))
        };
        h = (h.rotate_left(23) ^ w).wrapping_mul(K2);
    }
    h
}

/// Index of the last `.` in `name[..end]`, scanning a word at a time from the right.
#[inline]
fn prev_dot(name: &[u8], end: usize) -> Option<usize> {
    const DOTS: u64 = 0x2e2e_2e2e_2e2e_2e2e;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut e = end;
    while e >= 8 {
        let x = read_u64(&name[e - 8..e]) ^ DOTS;
        // High bit set exactly in the bytes of `x` that are zero, i.e. the dots.
        let m = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
        if m != 0 {
            return Some(e - 8 + (63 - m.leading_zeros() as usize) / 8);
        }
        e -= 8;
    }
    name[..e].iter().rposition(|&b| b == b'.')
}

#[inline]
fn read_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// One trie node as the hot path sees it: 16 bytes, four to a cache line, so a probe costs
/// one memory access. Glob runs and suffix text live beside, reached through [`Aside`].
#[derive(Clone, Copy)]
struct Slot {
    /// Suffix key; `EMPTY` for a free slot.
    key: u64,
    exact: RuleId,
    /// Low 31 bits: wildcard rule or `NO_WILD`; top bit: the node has globs.
    wild: u32,
}

const EMPTY: u64 = 0;
const EMPTY_SLOT: Slot = Slot {
    key: EMPTY,
    exact: NONE,
    wild: NO_WILD,
};
const HAS_GLOBS: u32 = 1 << 31;
const NO_WILD: u32 = HAS_GLOBS - 1;

#[derive(Clone, Copy)]
struct Node {
    exact: RuleId,
    wildcard: RuleId,
    globs_start: u32,
    globs_end: u32,
}

/// What a slot's node keeps beside the hot table: its node (for its globs) and where its
/// suffix text is. The text is what every lookup's winner is compared with, so its place is
/// one load from the slot index: through the node it was two dependent loads, each a likely
/// cache miss under load (0.6 % of the server's CPU time in a profile).
#[derive(Clone, Copy)]
struct Aside {
    node: u32,
    text_start: u32,
    text_len: u32,
}

const NO_ASIDE: Aside = Aside {
    node: NONE,
    text_start: 0,
    text_len: 0,
};

#[derive(Clone)]
struct Glob {
    pattern: Box<str>,
    rule: RuleId,
    specificity: u32,
}

/// A name candidate found during a walk, ranked as the matching semantics require.
#[derive(Clone, Copy)]
struct Candidate {
    rule: RuleId,
    /// Literal characters; `u32::MAX` for exact names.
    specificity: u32,
    /// 2 exact, 1 `*.suffix`, 0 glob: breaks specificity ties in favour of the simpler form.
    rank: u8,
    /// Glob index for tie-breaks between globs; trie node to verify for the others.
    at: u32,
}

/// Compiled names: exact, `*.suffix` and anchored globs.
pub struct NameTable {
    seed: u64,
    slots: Box<[Slot]>,
    /// Node and suffix text of each occupied slot.
    aside: Box<[Aside]>,
    shift: u32,
    nodes: Vec<Node>,
    /// Suffix text of every node, for the final comparison.
    text: String,
    globs: Vec<Glob>,
    /// Globs with no fixed trailing label: tried for every lookup.
    root_globs: Vec<u32>,
}

/// Builder for [`NameTable`].
#[derive(Default)]
pub struct NameTableBuilder<'a> {
    exact: Vec<(&'a str, RuleId)>,
    suffix: Vec<(&'a str, RuleId)>,
    globs: Vec<Glob>,
}

/// A built table, and the rules found to repeat an earlier rule's pattern.
pub struct Built {
    pub table: NameTable,
    /// (duplicate, canonical): the duplicate's pattern is the canonical rule's, which has
    /// the lower id; only the canonical id appears in the table.
    pub aliases: Vec<(RuleId, RuleId)>,
}

/// One trie level of one inserted name, before the levels are grouped into nodes.
#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    check: u32,
    /// The level's suffix, in the builder's text arena.
    text_off: u32,
    text_len: u16,
    kind: u8,
    /// Rule (exact, suffix) or glob index (glob anchor); unused on path levels.
    rule: u32,
}

const PATH: u8 = 0;
const EXACT: u8 = 1;
const SUFFIX: u8 = 2;
const ANCHOR: u8 = 3;

impl<'a> NameTableBuilder<'a> {
    pub fn insert_exact(&mut self, name: &'a str, rule: RuleId) {
        debug_assert!(rule < NO_WILD);
        self.exact.push((name, rule));
    }

    /// `*.suffix`, given the suffix. Rule ids must stay below 2^31 - 1.
    pub fn insert_suffix(&mut self, suffix: &'a str, rule: RuleId) {
        debug_assert!(rule < NO_WILD);
        self.suffix.push((suffix, rule));
    }

    /// A glob; each glob pattern must be inserted once.
    pub fn insert_glob(&mut self, pattern: &str, specificity: u32, rule: RuleId) {
        self.globs.push(Glob {
            pattern: pattern.into(),
            rule,
            specificity,
        });
    }

    pub fn build(self) -> Built {
        // A seed whose keys collide between two different suffixes would make the table
        // ambiguous; try another (with 64+32-bit identities this essentially never loops).
        let mut seed = K2 ^ (self.exact.len() as u64).wrapping_mul(K1);
        loop {
            if let Some(t) = self.try_build(seed) {
                return t;
            }
            seed = seed.wrapping_mul(K1).wrapping_add(1);
        }
    }

    /// Builds by sorting rather than by inserting: every level of every name becomes an
    /// [`Entry`]; sorting the entries by key groups each node's entries together and puts
    /// the nodes in slot order, so the table is filled front to back. Random inserts into a
    /// table of millions of slots would instead pay a cache and TLB miss per level.
    fn try_build(&self, seed: u64) -> Option<Built> {
        let check_seed = seed.rotate_left(32) ^ K1;
        let names = self.exact.len() + self.suffix.len() + self.globs.len();
        let mut text = String::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(names * 3);
        let named = self
            .exact
            .iter()
            .map(|&(n, r)| (n, EXACT, r))
            .chain(self.suffix.iter().map(|&(n, r)| (n, SUFFIX, r)))
            .chain(
                self.globs
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (glob::anchor_labels(&g.pattern), ANCHOR, i as u32))
                    .filter(|(anchor, _, _)| !anchor.is_empty()),
            );
        for (name, kind, rule) in named {
            let off = text.len();
            text.push_str(name);
            let buf = name.as_bytes();
            let (mut key, mut check) = (seed, check_seed);
            let mut end = buf.len();
            loop {
                let start = prev_dot(buf, end).map_or(0, |i| i + 1);
                key = step(key, buf, start, end);
                check = step(check, buf, start, end);
                if key == EMPTY {
                    return None;
                }
                entries.push(Entry {
                    key,
                    check: (check >> 32) as u32,
                    text_off: (off + start) as u32,
                    text_len: (buf.len() - start) as u16,
                    kind: if start == 0 { kind } else { PATH },
                    rule,
                });
                if start == 0 {
                    break;
                }
                end = start - 1;
            }
        }
        // Within a node: path levels first, then each kind with the lowest rule first, so the
        // first rule of a pattern is its canonical one.
        entries.sort_unstable_by_key(|e| (e.key, e.kind, e.rule));

        let distinct = entries.chunk_by(|a, b| a.key == b.key).count();
        let capacity = (distinct + distinct / 2).next_power_of_two().max(16);
        let bits = capacity.trailing_zeros();
        let mask = capacity - 1;
        let mut slots = vec![EMPTY_SLOT; capacity].into_boxed_slice();
        let mut aside = vec![NO_ASIDE; capacity].into_boxed_slice();
        let mut nodes: Vec<Node> = Vec::with_capacity(distinct);
        let mut globs: Vec<Glob> = Vec::with_capacity(self.globs.len());
        let mut aliases = Vec::new();
        for group in entries.chunk_by(|a, b| a.key == b.key) {
            let first = group[0];
            if group.iter().any(|e| e.check != first.check) {
                return None;
            }
            let mut node = Node {
                exact: NONE,
                wildcard: NONE,
                globs_start: globs.len() as u32,
                globs_end: globs.len() as u32,
            };
            for e in group {
                match e.kind {
                    EXACT if node.exact == NONE => node.exact = e.rule,
                    EXACT => aliases.push((e.rule, node.exact)),
                    SUFFIX if node.wildcard == NONE => node.wildcard = e.rule,
                    SUFFIX => aliases.push((e.rule, node.wildcard)),
                    ANCHOR => {
                        globs.push(self.globs[e.rule as usize].clone());
                        node.globs_end = globs.len() as u32;
                    }
                    _ => {}
                }
            }
            let mut i = (first.key >> (64 - bits)) as usize;
            while slots[i].key != EMPTY {
                i = (i + 1) & mask;
            }
            let mut wild = if node.wildcard == NONE {
                NO_WILD
            } else {
                node.wildcard
            };
            if node.globs_start != node.globs_end {
                wild |= HAS_GLOBS;
            }
            slots[i] = Slot {
                key: first.key,
                exact: node.exact,
                wild,
            };
            aside[i] = Aside {
                node: nodes.len() as u32,
                text_start: first.text_off,
                text_len: u32::from(first.text_len),
            };
            nodes.push(node);
        }
        let base = globs.len() as u32;
        globs.extend(
            self.globs
                .iter()
                .filter(|g| glob::anchor_labels(&g.pattern).is_empty())
                .cloned(),
        );
        let root_globs = (base..globs.len() as u32).collect();
        Some(Built {
            table: NameTable {
                seed,
                slots,
                aside,
                shift: 64 - bits,
                nodes,
                text,
                globs,
                root_globs,
            },
            aliases,
        })
    }
}

impl Candidate {
    /// Whether `self` is more specific than `other`. Ties between globs of equal literal
    /// length go to the lexicographically smaller pattern, so results never depend on
    /// catalogue order.
    fn beats(&self, other: &Candidate, globs: &[Glob]) -> bool {
        match (self.specificity, self.rank).cmp(&(other.specificity, other.rank)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => {
                self.rank == 0 && globs[self.at as usize].pattern < globs[other.at as usize].pattern
            }
        }
    }
}

impl NameTable {
    /// Slot index holding `key`.
    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = (key >> self.shift) as usize;
        loop {
            let k = self.slots[i].key;
            if k == key {
                return Some(i);
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Suffix text of the node in slot `i`.
    fn slot_text(&self, i: usize) -> &str {
        let a = self.aside[i];
        &self.text[a.text_start as usize..(a.text_start + a.text_len) as usize]
    }

    /// The most specific rule matching `name` among those `accept` lets through (the port
    /// filter). `name` must be normalised (see [`crate::host`]).
    #[inline]
    pub fn lookup(&self, name: &str, accept: impl Fn(RuleId) -> bool) -> Option<RuleId> {
        if self.nodes.is_empty() && self.root_globs.is_empty() {
            return None;
        }
        match self.walk::<false>(name, &accept) {
            Ok(best) => best,
            // A hash collision led the fast walk astray: redo it comparing every node.
            Err(()) => self.walk::<true>(name, &accept).unwrap_or(None),
        }
    }

    /// One walk from the rightmost label. With `VERIFY`, every node hit is compared with
    /// the host's suffix; without, only the winner is, and `Err` asks for a verified walk.
    #[inline]
    fn walk<const VERIFY: bool>(
        &self,
        name: &str,
        accept: &impl Fn(RuleId) -> bool,
    ) -> Result<Option<RuleId>, ()> {
        let bytes = name.as_bytes();
        let mut best: Option<Candidate> = None;
        for &g in &self.root_globs {
            self.try_glob(g, name, accept, &mut best);
        }
        let buf = bytes;
        let mut key = self.seed;
        let mut end = buf.len();
        loop {
            let start = prev_dot(buf, end).map_or(0, |i| i + 1);
            key = step(key, buf, start, end);
            let Some(i) = self.find(key) else {
                break;
            };
            if VERIFY && self.slot_text(i) != &name[start..] {
                break;
            }
            let slot = self.slots[i];
            if slot.wild & HAS_GLOBS != 0 {
                let node = &self.nodes[self.aside[i].node as usize];
                for g in node.globs_start..node.globs_end {
                    self.try_glob(g, name, accept, &mut best);
                }
            }
            if start == 0 {
                if slot.exact != NONE && accept(slot.exact) {
                    best = Some(Candidate {
                        rule: slot.exact,
                        specificity: u32::MAX,
                        rank: 2,
                        at: i as u32,
                    });
                }
                break;
            }
            let wild = slot.wild & !HAS_GLOBS;
            if wild != NO_WILD && accept(wild) {
                // Deeper suffixes are longer, so they beat shallower ones; globs found so
                // far may still be more specific.
                let c = Candidate {
                    rule: wild,
                    specificity: (buf.len() - start + 1) as u32,
                    rank: 1,
                    at: i as u32,
                };
                if best.is_none_or(|b| c.beats(&b, &self.globs)) {
                    best = Some(c);
                }
            }
            end = start - 1;
        }
        match best {
            None => Ok(None),
            Some(c) if VERIFY || c.rank == 0 => Ok(Some(c.rule)),
            Some(c) => {
                let text = self.slot_text(c.at as usize);
                let ok = if c.rank == 2 {
                    text == name
                } else {
                    name.len() > text.len()
                        && name.ends_with(text)
                        && bytes[name.len() - text.len() - 1] == b'.'
                };
                if ok {
                    Ok(Some(c.rule))
                } else {
                    Err(())
                }
            }
        }
    }

    #[inline]
    fn try_glob(
        &self,
        g: u32,
        name: &str,
        accept: &impl Fn(RuleId) -> bool,
        best: &mut Option<Candidate>,
    ) {
        let glob = &self.globs[g as usize];
        if glob::matches(glob.pattern.as_bytes(), name.as_bytes()) && accept(glob.rule) {
            let c = Candidate {
                rule: glob.rule,
                specificity: glob.specificity,
                rank: 0,
                at: g,
            };
            if best.is_none_or(|b| c.beats(&b, &self.globs)) {
                *best = Some(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_names() {
        let deep = "a.b.c.d.e.f.g.h.i.example.com";
        let mut b = NameTableBuilder::default();
        b.insert_exact(deep, 0);
        b.insert_suffix("e.f.g.h.i.example.com", 1);
        b.insert_suffix("b.c.d.e.f.g.h.i.example.com", 2);
        let t = b.build().table;
        assert_eq!(t.lookup(deep, |_| true), Some(0));
        assert_eq!(t.lookup("x.c.d.e.f.g.h.i.example.com", |_| true), Some(1));
        assert_eq!(
            t.lookup("z.a.b.c.d.e.f.g.h.i.example.com", |_| true),
            Some(2)
        );
        assert_eq!(t.lookup("x.b.c.d.e.f.g.h.i.example.com", |_| true), Some(2));
        assert_eq!(t.lookup("x.y.z.w.v.u.t.s.r.q.example.com", |_| true), None);
    }

    #[test]
    fn prev_dot_finds_the_last_dot() {
        for name in [
            "",
            "a",
            "a.b",
            "abcdefghij.k",
            "a.bcdefghijklmnop",
            "abcdefghijklmnopq",
            "..",
            "x.y.z.abcdefgh.ijklmnop",
        ] {
            let b = name.as_bytes();
            for end in 0..=b.len() {
                assert_eq!(
                    prev_dot(b, end),
                    b[..end].iter().rposition(|&c| c == b'.'),
                    "{name:?} {end}"
                );
            }
        }
    }

    #[test]
    fn label_keys_do_not_depend_on_neighbours() {
        let labels: &[&[u8]] = &[
            b"a",
            b"com",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefghi",
            b"x-y_z0123456789abcdef",
        ];
        for label in labels {
            let alone = step(7, label, 0, label.len());
            for (before, after) in [
                (&b"q"[..], &b""[..]),
                (b"longerprefix.", b".tail.example"),
                (b"", b".c"),
            ] {
                let mut name = before.to_vec();
                name.extend_from_slice(label);
                name.extend_from_slice(after);
                let got = step(7, &name, before.len(), before.len() + label.len());
                assert_eq!(got, alone, "{:?} in {:?}", label, name);
            }
        }
    }

    #[test]
    fn colliding_seed_still_answers_exactly() {
        let mut b = NameTableBuilder::default();
        b.insert_exact("a.example.com", 0);
        b.insert_suffix("example.com", 1);
        let mut t = b.build().table;
        // Corrupt the table as a collision would: make the key of "b.example.com" point at
        // the node of "a.example.com".
        let key = |k: u64, label: &[u8]| step(k, label, 0, label.len());
        let k_com = key(t.seed, b"com");
        let k_example = key(k_com, b"example");
        let k_b = key(k_example, b"b");
        let slot_a = t.find(key(k_example, b"a")).unwrap();
        let mask = t.slots.len() - 1;
        let mut i = (k_b >> t.shift) as usize;
        while t.slots[i].key != EMPTY {
            i = (i + 1) & mask;
        }
        t.slots[i] = Slot {
            key: k_b,
            ..t.slots[slot_a]
        };
        t.aside[i] = t.aside[slot_a];
        // The fast walk would call b.example.com an exact match; verification catches it.
        assert_eq!(t.lookup("b.example.com", |_| true), Some(1));
        assert_eq!(t.lookup("a.example.com", |_| true), Some(0));
    }
}
