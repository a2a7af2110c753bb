//! `tag` as a single CI step.
fn main() {
    std::process::exit(cadkit::cli::main_step::<cadkit::cli::TagArgs>("cadkit-tag"));
}
