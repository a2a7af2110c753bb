//! `cadkit-update`: converge an environment to a built codeAsData folder.
fn main() {
    std::process::exit(cadkit::cli::main_step::<cadkit::cli::UpdateArgs>(
        "cadkit-update",
    ))
}
