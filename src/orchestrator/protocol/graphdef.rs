//! graphDef queries (`POST rest/querysvc/graphDef`): type and the toolkit's queries.
//!
//! A query starts from the base tags `b`. With a follow rule `f`, the answer holds what the
//! rule reaches from the bases (the dumper's semantics: instances, their relations). Each
//! step of `q` walks relation `t` from the current nodes, toward the origin (`d` 1: nodes
//! `x` with `x -t-> current`) or toward the destination (`d` 2: `current -t-> x`), recursively
//! when `r`, then runs its own sub-steps from the nodes reached. The reply is NDJSON: one
//! patch operation per line (CREATE of each reached instance, CREATE_RELATION of each
//! walked relation).

use serde::{Deserialize, Serialize};

/// Direction of a step (`d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Direction {
    /// `d: 1`: toward the origin (incoming relations).
    ToOrigin,
    /// `d: 2`: toward the destination (outgoing relations).
    ToDestination,
}

impl TryFrom<u8> for Direction {
    type Error = String;
    fn try_from(d: u8) -> Result<Self, String> {
        match d {
            1 => Ok(Direction::ToOrigin),
            2 => Ok(Direction::ToDestination),
            other => Err(format!("graphDef direction must be 1 or 2, got {other}")),
        }
    }
}

impl From<Direction> for u8 {
    fn from(d: Direction) -> u8 {
        match d {
            Direction::ToOrigin => 1,
            Direction::ToDestination => 2,
        }
    }
}

/// A graphDef query: `{"i":<id>,"b":[<bases>],"v":true,"f":<rule|null>,"q":[…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphDefQuery {
    /// Query id (free text, echoed in logs).
    pub i: String,
    /// Base tags.
    pub b: Vec<String>,
    /// "Include the bases themselves" (always `true` in the toolkit's queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<bool>,
    /// Follow rule applied from the bases (`null` = none).
    #[serde(default)]
    pub f: Option<String>,
    /// Steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<Vec<GraphDefStep>>,
}

/// One step of a query: `{"t":<relation>,"d":1|2,"v":true,"r":<recursive>,"q":[…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphDefStep {
    /// Tag of the relation walked (see [`rel`]).
    pub t: String,
    /// Which way the relation is walked.
    pub d: Direction,
    /// Include the nodes reached in the answer (`true` unless said otherwise, as in every
    /// toolkit query).
    #[serde(default = "yes")]
    pub v: bool,
    /// Walk the relation again from the nodes reached, until nothing new is found
    /// (folders in folders); `false` = one hop.
    #[serde(default)]
    pub r: bool,
    /// Sub-steps run from the nodes this step reached.
    #[serde(default)]
    pub q: Vec<GraphDefStep>,
}

fn yes() -> bool {
    true
}

/// Relation tags the toolkit's structure queries walk.
pub mod rel {
    /// `contains`: walked toward the origin at each level, for what contains a node.
    pub const CONTAINS: &str = "ff02200000000000000f";
    /// `homeFolder`: the first hop of the structure walk, from the root of roots (Home).
    pub const HOME_FOLDER: &str = "017e9c2e013e06bfffd9";
    /// `subRepository`: repositories inside repositories, walked recursively.
    pub const SUB_REPOSITORY: &str = "017e9c34cf48bd6965c1";
    /// `subfolder`: folders of a project, walked recursively.
    pub const SUBFOLDER: &str = "016a697ef00ce7554691";
    /// `item`: the items of a folder, the leaves of the structure walk.
    pub const ITEM: &str = "016a697ef00ce7554692";
}

fn step(t: &str, d: Direction, r: bool, q: Vec<GraphDefStep>) -> GraphDefStep {
    GraphDefStep {
        t: t.to_string(),
        d,
        v: true,
        r,
        q,
    }
}

fn contains_in() -> GraphDefStep {
    step(rel::CONTAINS, Direction::ToOrigin, false, vec![])
}

fn item() -> GraphDefStep {
    step(
        rel::ITEM,
        Direction::ToDestination,
        false,
        vec![contains_in()],
    )
}

fn subfolder() -> GraphDefStep {
    step(
        rel::SUBFOLDER,
        Direction::ToDestination,
        true,
        vec![item(), contains_in()],
    )
}

impl GraphDefQuery {
    /// `getRootData`: everything the follow rule reaches from `root`.
    pub fn root_data(root: &str, follow_rule: &str) -> Self {
        GraphDefQuery {
            i: "getRootData".into(),
            b: vec![root.to_string()],
            v: None,
            f: Some(follow_rule.to_string()),
            q: None,
        }
    }

    /// The toolkit's `fullStructureQuery` (the root map of `update`).
    pub fn full_structure() -> Self {
        let sub_repository = step(
            rel::SUB_REPOSITORY,
            Direction::ToDestination,
            true,
            vec![subfolder(), item(), contains_in()],
        );
        let home = step(
            rel::HOME_FOLDER,
            Direction::ToDestination,
            false,
            vec![sub_repository, subfolder(), item(), contains_in()],
        );
        Self::from_root("fullStructureQuery", vec![home, contains_in()])
    }

    /// The toolkit's `structureQuery` (repositories only, for the structure diff).
    pub fn structure() -> Self {
        let sub_repository = step(
            rel::SUB_REPOSITORY,
            Direction::ToDestination,
            true,
            vec![contains_in()],
        );
        let home = step(
            rel::HOME_FOLDER,
            Direction::ToDestination,
            false,
            vec![sub_repository, contains_in()],
        );
        Self::from_root("structureQuery", vec![home, contains_in()])
    }

    fn from_root(id: &str, q: Vec<GraphDefStep>) -> Self {
        GraphDefQuery {
            i: id.into(),
            b: vec![super::tags::ROOT_OF_ROOTS.to_string()],
            v: Some(true),
            f: None,
            q: Some(q),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `JSON.stringify(structureQuery)` of the toolkit.
    const STRUCTURE: &str = r#"{"i":"structureQuery","b":["10000000000000000000"],"v":true,"f":null,"q":[{"t":"017e9c2e013e06bfffd9","d":2,"v":true,"r":false,"q":[{"t":"017e9c34cf48bd6965c1","d":2,"v":true,"r":true,"q":[{"t":"ff02200000000000000f","d":1,"v":true,"r":false,"q":[]}]},{"t":"ff02200000000000000f","d":1,"v":true,"r":false,"q":[]}]},{"t":"ff02200000000000000f","d":1,"v":true,"r":false,"q":[]}]}"#;

    #[test]
    fn structure_query_is_byte_identical_to_the_toolkit() {
        assert_eq!(
            serde_json::to_string(&GraphDefQuery::structure()).unwrap(),
            STRUCTURE
        );
        let back: GraphDefQuery = serde_json::from_str(STRUCTURE).unwrap();
        assert_eq!(back, GraphDefQuery::structure());
    }

    #[test]
    fn full_structure_query_shape() {
        let q = GraphDefQuery::full_structure();
        let s = serde_json::to_string(&q).unwrap();
        assert!(s.starts_with(r#"{"i":"fullStructureQuery","b":["10000000000000000000"],"v":true,"f":null,"q":[{"t":"017e9c2e013e06bfffd9","d":2,"v":true,"r":false,"q":[{"t":"017e9c34cf48bd6965c1","d":2,"v":true,"r":true,"q":[{"t":"016a697ef00ce7554691","d":2,"v":true,"r":true,"q":[{"t":"016a697ef00ce7554692","d":2,"v":true,"r":false,"q":[{"t":"ff02200000000000000f","d":1,"v":true,"r":false,"q":[]}]}"#));
        let back: GraphDefQuery = serde_json::from_str(&s).unwrap();
        assert_eq!(back, q);
    }

    #[test]
    fn root_data_query_is_what_the_toolkit_sends() {
        let q = GraphDefQuery::root_data("0123456789abcdef0123", "ff023000000000000337");
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"i":"getRootData","b":["0123456789abcdef0123"],"f":"ff023000000000000337"}"#
        );
        assert!(
            serde_json::from_str::<GraphDefQuery>(r#"{"i":"x","b":[],"q":[{"t":"a","d":3}]}"#)
                .is_err()
        );
    }
}
