//! Well-known tags of the Olympe data model (toolkit constants).

/// Root of roots, named "Home".
pub const HOME: &str = "10000000000000000000";
/// "Olympe Libraries" repository.
pub const OLYMPE_LIBRARIES: &str = "10000000000000000001";
/// The internal repository, beside Olympe Libraries.
pub const INTERNAL: &str = "10000000000000000002";
/// The runtime (primordial) project.
pub const RUNTIME_PROJECT: &str = "100000000000000000dd";
/// The Draw project (Olympe's composer).
pub const DRAW_PROJECT: &str = "0171bc740109f879cd90";
/// The built-in administrator user.
pub const ADMIN_USER: &str = "014831d95fd7d12b8568";
/// The built-in guest user.
pub const GUEST_USER: &str = "0163d9653067b6237f62";

/// Data types (models) of the runtime.
pub mod model {
    /// The root of every data type: instances of any kind are objects.
    pub const OBJECT: &str = "ff021000000000000001";
    /// Role (access rights).
    pub const ROLE: &str = "ff021000000000000002";
    /// User.
    pub const USER: &str = "ff021000000000000003";
    /// Relation type: instances of it describe relations, with their follow-rule bits.
    pub const RELATION: &str = "ff021000000000000006";
    /// Repository: the top folders under Home.
    pub const REPOSITORY: &str = "ff021000000000000020";
    /// File: content stored outside the graph when flagged binary.
    pub const FILE: &str = "ff021000000000000030";
    /// Folder of a project.
    pub const FOLDER: &str = "01612df1db9749227626";
    /// Project: the unit the dumper writes, with its own folder.
    pub const PROJECT: &str = "0163d9594700fcf61e54";
    /// Business-data container model.
    pub const BUSINESS_CONTAINER: &str = "017b3aa8fae1e3d044dc";
}

/// Relation types the toolkit and the dumper walk.
pub mod rel {
    /// Instance → its model (data type).
    pub const MODEL: &str = "ff022000000000000000";
    /// Model → the model it extends.
    pub const EXTENDS: &str = "ff02200000000000000e";
    /// Container → content (generic containment).
    pub const CONTAINS: &str = "ff02200000000000000f";
    /// Home → its repositories.
    pub const HOME_FOLDER: &str = "017e9c2e013e06bfffd9";
    /// Repository → its projects.
    pub const SUB_REPOSITORY: &str = "017e9c34cf48bd6965c1";
    /// Project or folder → its sub-folders.
    pub const SUB_FOLDER: &str = "016a697ef00ce7554691";
    /// Folder → the items it holds.
    pub const ITEM: &str = "016a697ef00ce7554692";
}

/// Property tags.
pub mod prop {
    /// An instance's name (names files and folders in a dump).
    pub const NAME: &str = "ff023000000000000011";
    /// A project's version.
    pub const PROJECT_VERSION: &str = "017869c80bb9929c76d0";
}

/// Follow rules: properties of relation types whose bits decide what a fetch, delete or
/// dump walks through.
pub mod follow {
    /// The DUMP rule: what the dumper writes in a root's files.
    pub const DUMP: &str = "ff023000000000000037";
    /// The DELETE rule: what deleting an instance cascades through.
    pub const DELETE: &str = "ff023000000000000137";
    /// The RUNTIME rule: what a runtime fetch of an instance brings along.
    pub const RUNTIME: &str = "ff023000000000000237";
    /// The SNAPSHOT rule: what a snapshot of a folder or project reaches (the orchestrator's
    /// graph definition follows it).
    pub const SNAPSHOT: &str = "ff023000000000000337";
}
