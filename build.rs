//! Compiles the protobuf messages evforensics reads (Kubernetes Event and
//! ObjectMeta, the runtime.Unknown envelope, etcd's mvccpb/leasepb, and the
//! WAL's walpb/raftpb/etcdserverpb) with prost.
fn main() {
    let protos = [
        "proto/runtime.proto",
        "proto/meta.proto",
        "proto/core_v1.proto",
        "proto/events_v1.proto",
        "proto/etcd.proto",
        "proto/walpb.proto",
        "proto/raftpb.proto",
        "proto/etcdserverpb.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let mut config = prost_build::Config::new();
    // Deterministic output order for labels/annotations and other maps.
    config.btree_map(["."]);
    config
        .compile_protos(&protos, &["proto/"])
        .expect("compiling proto/ (is protoc installed? apt-get install protobuf-compiler)");
}
