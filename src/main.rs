//! The `difflab` command line: everything lives in the library, this only runs it.

fn main() {
    std::process::exit(difflab::cli::main());
}
