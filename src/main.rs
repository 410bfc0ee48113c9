// Decoding threads allocate what the writer thread frees: glibc's malloc
// serializes those frees on the allocating thread's arena lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(evforensics::cli::main());
}
