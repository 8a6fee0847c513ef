//! The Kubernetes manifests are not compiled by anything else: this runs scripts/check-k8s.sh,
//! which renders every kustomization under k8s/, validates it against the API schemas of a fixed
//! Kubernetes version and checks what several replicas rely on (three of them, rolled one at a
//! time, a PodDisruptionBudget, the preStop hand-over, MinIO, the CloudNativePG overlay), so a
//! broken manifest fails `cargo test` instead of a `kubectl apply`.

use std::process::Command;

#[test]
fn manifests_render_and_validate() {
    let out = Command::new("bash")
        .arg("scripts/check-k8s.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run bash scripts/check-k8s.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "scripts/check-k8s.sh failed ({}):\n{stdout}\n{stderr}", out.status);
}
