//! `r1lab gpu-check --device cpu --quick`: the checks that run on the GPU machine (issue 8), at
//! smoke size on the CPU, so their code path is tested where there is no GPU. The bf16 checks run
//! the composed ops (not the fused f32 CPU kernels), the same code the CUDA backend runs.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn gpu_check_quick_on_the_cpu_passes_and_writes_its_report() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_r1lab"))
        .args(["--device", "cpu", "gpu-check", "--quick", "--out"])
        .arg(tmp.path())
        .current_dir(&repo)
        .output()
        .expect("run r1lab");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gpu-check failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(tmp.path().join("gpu_check.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["pass"], true, "{text}");
    assert_eq!(report["device"], "cpu");
    assert_eq!(report["quick"], true);
    let checks = report["checks"].as_array().unwrap();
    let status = |name: &str| -> String {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name} in {text}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for name in [
        "parity_f32",
        "parity_bf16",
        "kv_cache_f32",
        "gradients_f32",
        "gradients_bf16",
        "sft_smoke",
        "throughput_bf16",
    ] {
        assert_eq!(status(name), "pass", "{name}: {text}");
    }
    // Reported, not judged, at smoke size.
    assert_eq!(status("grpo_smoke"), "info", "{text}");
    assert_eq!(status("distillation_smoke"), "skipped");
    let tput = &checks
        .iter()
        .find(|c| c["name"] == "throughput_bf16")
        .unwrap()["details"];
    for k in [
        "train_tokens_per_s",
        "sample_tokens_per_s",
        "decode_forward_tokens_per_s",
        "train_tflops_6n",
    ] {
        assert!(tput[k].as_f64().unwrap() > 0.0, "{k}: {tput}");
    }
    let md = std::fs::read_to_string(tmp.path().join("gpu_check.md")).unwrap();
    assert!(md.starts_with("# r1lab gpu-check: PASS"), "{md}");
    assert!(
        md.contains("issue 5"),
        "the distillation note is missing: {md}"
    );
}

#[test]
fn gpu_check_needs_the_cuda_feature_for_cuda() {
    if cfg!(feature = "cuda") {
        return;
    }
    // Without --device, gpu-check defaults to cuda: a CPU-only build says how to get it.
    let out = Command::new(env!("CARGO_BIN_EXE_r1lab"))
        .args(["gpu-check", "--quick"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run r1lab");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features cuda"), "{err}");
}
