//! Checkpoints: round trip, bf16 files into f32 variables, atomic saves, loading by Hub id from an
//! offline cache, and one clear error for each kind of bad input.

mod common;
use common::max_abs_diff;

use r1lab::candle::{DType, Device, Tensor};
use r1lab::checkpoint::{self, GenerationConfig};
use r1lab::model::{Batch, Model, ModelConfig};
use r1lab::tokenizer::{train_task_tokenizer, Tokenizer, TASK_SPECIAL_TOKENS};
use std::path::Path;

fn tokenizer() -> Tokenizer {
    let texts: Vec<String> = (0..50)
        .map(|i| {
            format!(
                "User: {i} + {i} = ? Assistant: <think> add </think> <answer> {} </answer>",
                2 * i
            )
        })
        .collect();
    train_task_tokenizer(&texts, 300).unwrap()
}

fn model(seed: u64) -> Model {
    let cfg = ModelConfig::preset("tiny", 300).unwrap();
    Model::new_random(cfg, seed, DType::F32, &Device::Cpu).unwrap()
}

fn logits(m: &Model) -> Tensor {
    let b = Batch::left_padded(&[vec![1u32, 2, 3, 4]], 0, m.dtype(), m.device()).unwrap();
    m.forward(&b).unwrap()
}

fn save(m: &Model, dir: &Path) {
    let gen = GenerationConfig {
        eos_token_id: Some(serde_json::json!(0)),
        ..Default::default()
    };
    checkpoint::save(m, Some(&tokenizer()), &gen, dir).unwrap();
}

fn load_err(spec: &Path) -> String {
    match checkpoint::load(spec.to_str().unwrap(), DType::F32, &Device::Cpu) {
        Ok(_) => panic!("{} loaded but should not", spec.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn save_and_load_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    let m = model(1);
    save(&m, &dir);
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let loaded = checkpoint::load(dir.to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&logits(&m), &logits(&loaded.model)), 0.0);
    assert_eq!(loaded.tokenizer().unwrap().eos_ids, vec![0]);
    loaded
        .tokenizer()
        .unwrap()
        .require_tokens(&TASK_SPECIAL_TOKENS)
        .unwrap();

    // Saving again over an existing checkpoint replaces it and leaves no temporary folder.
    let m2 = model(2);
    save(&m2, &dir);
    let again = checkpoint::load(dir.to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&logits(&m2), &logits(&again.model)), 0.0);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn a_failed_save_leaves_the_previous_checkpoint_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    let m = model(1);
    save(&m, &dir);
    let err = checkpoint::atomic_dir(&dir, |tmp| {
        std::fs::write(tmp.join("config.json"), "{ half")?;
        anyhow::bail!("simulated crash while writing")
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("nothing was replaced"));
    let loaded = checkpoint::load(dir.to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&logits(&m), &logits(&loaded.model)), 0.0);
}

#[test]
fn bf16_files_load_into_f32_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bf16");
    let m = model(3);
    let m16 = Model::from_params(
        m.config.clone(),
        r1lab::model::Params::from_tensors(
            &m.config,
            m.params().tensors(),
            DType::BF16,
            &Device::Cpu,
            "test",
        )
        .unwrap(),
    )
    .unwrap();
    save(&m16, &dir);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["torch_dtype"], "bfloat16");
    let loaded = checkpoint::load(dir.to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(loaded.model.dtype(), DType::F32);
    for (_, v) in loaded.model.params().iter() {
        assert_eq!(v.dtype(), DType::F32);
    }
    // bf16 keeps ~3 significant digits: the logits agree loosely.
    let d = max_abs_diff(&logits(&m), &logits(&loaded.model));
    assert!(d < 0.05, "{d}");
}

#[test]
fn loads_by_hub_id_from_an_offline_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let m = model(4);
    save(&m, &ckpt);
    let hf_home = tmp.path().join("hf");
    r1lab::hub::install_in_cache(
        &ckpt,
        &hf_home.join("hub"),
        "r1lab/tiny-test",
        "0123456789abcdef",
    )
    .unwrap();
    // This test binary runs this test alone in its process environment section: the variables are
    // set before the load and only this test reads them.
    std::env::set_var("HF_HOME", &hf_home);
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let loaded = checkpoint::load("r1lab/tiny-test", DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&logits(&m), &logits(&loaded.model)), 0.0);
    assert!(
        loaded.source.ends_with("snapshots/0123456789abcdef"),
        "{}",
        loaded.source.display()
    );
    let err = match checkpoint::load("r1lab/not-there", DType::F32, &Device::Cpu) {
        Ok(_) => panic!("loaded a model that is not in the cache"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("not in the Hugging Face cache") && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
}

#[test]
fn bad_inputs_get_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    save(&model(5), &good);
    let copy = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(&good).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
        d
    };

    // A path that does not exist.
    let err = load_err(&tmp.path().join("nowhere"));
    assert!(
        err.contains("nowhere") && err.contains("not a folder"),
        "{err}"
    );

    // A missing weights file.
    let d = copy("noweights");
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    let err = load_err(&d);
    assert!(err.contains("no model.safetensors"), "{err}");

    // A truncated safetensors file.
    let d = copy("truncated");
    let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&d);
    assert!(
        err.contains("model.safetensors") && err.contains("truncated"),
        "{err}"
    );

    // An unknown architecture.
    let d = copy("arch");
    let cfg = std::fs::read_to_string(d.join("config.json"))
        .unwrap()
        .replace("\"qwen2\"", "\"gpt2\"");
    std::fs::write(d.join("config.json"), cfg).unwrap();
    let err = load_err(&d);
    assert!(err.contains("config.json") && err.contains("gpt2"), "{err}");

    // Weights whose shapes do not match the config.
    let d = copy("shapes");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    cfg["intermediate_size"] = serde_json::json!(48);
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let err = load_err(&d);
    assert!(
        err.contains("model.safetensors") && err.contains("gate_proj") && err.contains("shape"),
        "{err}"
    );

    // A malformed config.json.
    let d = copy("badjson");
    std::fs::write(d.join("config.json"), "{\"vocab_size\": \"many\"}").unwrap();
    let err = load_err(&d);
    assert!(
        err.contains("config.json") && err.contains("not a valid"),
        "{err}"
    );

    // A tokenizer lacking a special token the tasks need.
    let plain = Tokenizer::from_file(&good.join("tokenizer.json"), &[0]).unwrap();
    let err = plain
        .require_tokens(&["<think>", "<reflect>"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<reflect>") && !err.contains("\"<think>\""),
        "{err}"
    );

    // A corrupt tokenizer.json.
    let d = copy("badtok");
    std::fs::write(d.join("tokenizer.json"), "not json").unwrap();
    let err = load_err(&d);
    assert!(err.contains("tokenizer.json"), "{err}");
}
