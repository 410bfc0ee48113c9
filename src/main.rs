fn main() {
    std::process::exit(evforensics::cli::main());
}
