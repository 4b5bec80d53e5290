fn main() {
    std::process::exit(chihaya::cli::main());
}
