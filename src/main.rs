fn main() -> std::process::ExitCode {
    haochaping::cli::main()
}
