//! The front door: every cadkit command, with the Olympe toolkit's names and options.
fn main() {
    std::process::exit(cadkit::cli::main());
}
