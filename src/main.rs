fn main() -> std::process::ExitCode {
    haochaping::interfaces::cli::main()
}
