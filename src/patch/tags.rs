//! Well-known tags of the Olympe data model (toolkit constants).

/// Root of roots, named "Home".
pub const HOME: &str = "10000000000000000000";
/// "Olympe Libraries" repository.
pub const OLYMPE_LIBRARIES: &str = "10000000000000000001";
pub const INTERNAL: &str = "10000000000000000002";
/// The runtime (primordial) project.
pub const RUNTIME_PROJECT: &str = "100000000000000000dd";
pub const DRAW_PROJECT: &str = "0171bc740109f879cd90";
pub const ADMIN_USER: &str = "014831d95fd7d12b8568";
pub const GUEST_USER: &str = "0163d9653067b6237f62";

pub mod model {
    pub const OBJECT: &str = "ff021000000000000001";
    pub const ROLE: &str = "ff021000000000000002";
    pub const USER: &str = "ff021000000000000003";
    pub const RELATION: &str = "ff021000000000000006";
    pub const REPOSITORY: &str = "ff021000000000000020";
    pub const FILE: &str = "ff021000000000000030";
    pub const FOLDER: &str = "01612df1db9749227626";
    pub const PROJECT: &str = "0163d9594700fcf61e54";
    /// Business-data container model.
    pub const BUSINESS_CONTAINER: &str = "017b3aa8fae1e3d044dc";
}

pub mod rel {
    pub const MODEL: &str = "ff022000000000000000";
    pub const EXTENDS: &str = "ff02200000000000000e";
    pub const CONTAINS: &str = "ff02200000000000000f";
    pub const HOME_FOLDER: &str = "017e9c2e013e06bfffd9";
    pub const SUB_REPOSITORY: &str = "017e9c34cf48bd6965c1";
    pub const SUB_FOLDER: &str = "016a697ef00ce7554691";
    pub const ITEM: &str = "016a697ef00ce7554692";
}

pub mod prop {
    pub const NAME: &str = "ff023000000000000011";
    pub const PROJECT_VERSION: &str = "017869c80bb9929c76d0";
}

/// Follow rules: properties of relation types whose bits decide what a fetch, delete or
/// dump walks through.
pub mod follow {
    pub const DUMP: &str = "ff023000000000000037";
    pub const DELETE: &str = "ff023000000000000137";
    pub const RUNTIME: &str = "ff023000000000000237";
    pub const SNAPSHOT: &str = "ff023000000000000337";
}
