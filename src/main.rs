fn main() {
    std::process::exit(mvc_workbench::cli::main());
}
