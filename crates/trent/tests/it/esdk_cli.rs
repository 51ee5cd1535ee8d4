//! `trent encrypt` / `trent decrypt` driven as the real binary: files, directories, standard
//! input and output, wrapping keys from files, encryption context, policies, exit codes, no
//! partial output on failure, and messages exchanged with the Python aws-encryption-sdk.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::esdk::find_esdk_python;

struct Dir {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().to_path_buf();
        std::fs::write(path.join("aes.key"), [7u8; 32]).unwrap();
        std::fs::write(path.join("other.key"), [8u8; 32]).unwrap();
        let pkcs8 =
            trent_crypto::asymmetric::generate(trent_crypto::AsymmetricSpec::Rsa2048).unwrap();
        std::fs::write(path.join("rsa.der"), pkcs8.expose_secret()).unwrap();
        let spki =
            trent_crypto::asymmetric::public_key_der(trent_crypto::AsymmetricSpec::Rsa2048, &pkcs8)
                .unwrap();
        std::fs::write(path.join("rsa-pub.der"), spki).unwrap();
        Dir { _tmp: tmp, path }
    }

    fn p(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }

    fn aes(&self) -> Vec<String> {
        vec![
            "-w".into(),
            "provider=raw-aes".into(),
            format!("key={}", self.p("aes.key")),
            "namespace=tests".into(),
            "name=aes".into(),
        ]
    }

    /// Runs trent with `args`, feeding `stdin`.
    fn trent(&self, args: &[String], stdin: &[u8]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
            .args(args)
            .current_dir(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = walk(&self.path)
            .into_iter()
            .map(|p| p.strip_prefix(&self.path).unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn files_with_several_wrapping_keys_context_and_metadata() {
    let d = Dir::new();
    std::fs::write(d.path.join("plain.bin"), data(100_000)).unwrap();
    let mut enc = args(&["encrypt", "-i", "plain.bin", "-o", "plain.bin.enc"]);
    enc.extend(d.aes());
    enc.extend(args(&[
        "-w",
        "provider=raw-rsa",
        &format!("key={}", d.p("rsa-pub.der")),
        "namespace=tests",
        "name=rsa",
        "padding=oaep-sha256",
        "-c",
        "purpose=test",
        "team=blue",
        "--frame-length",
        "1000",
        "--metadata-output",
        "meta.jsonl",
    ]));
    let out = d.trent(&enc, b"");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let meta: Value = serde_json::from_str(
        std::fs::read_to_string(d.path.join("meta.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert_eq!(meta["algorithm_id"], "0x0578");
    assert_eq!(meta["encryption_context"]["purpose"], "test");
    assert_eq!(meta["frame_length"], 1000);

    // The RSA private key alone opens it (its public half wrapped the data key).
    let rsa = args(&[
        "-w",
        "provider=raw-rsa",
        &format!("key={}", d.p("rsa.der")),
        "namespace=tests",
        "name=rsa",
        "padding=oaep-sha256",
    ]);
    let mut dec = args(&[
        "decrypt",
        "-i",
        "plain.bin.enc",
        "-o",
        "out.bin",
        "-c",
        "purpose=test",
        "team",
    ]);
    dec.extend(rsa.clone());
    dec.extend(args(&["--metadata-output", "-"]));
    let out = d.trent(&dec, b"");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(d.path.join("out.bin")).unwrap(),
        data(100_000)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        meta["header"]["algorithm"],
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
    );
    assert_eq!(
        meta["header"]["encrypted_data_keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(meta["header"]["frame_length"], 1000);

    // A wrong context value, a missing required key, and a wrong key: exit 1, no output.
    for (extra, what) in [
        (args(&["-c", "purpose=other"]), "does not match"),
        (args(&["-c", "absent"]), "no key"),
    ] {
        let mut dec = args(&["decrypt", "-i", "plain.bin.enc", "-o", "bad.bin"]);
        dec.extend(d.aes());
        dec.extend(extra);
        let out = d.trent(&dec, b"");
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains(what), "{}", stderr(&out));
    }
    let mut dec = args(&["decrypt", "-i", "plain.bin.enc", "-o", "bad.bin"]);
    dec.extend(args(&[
        "-w",
        "provider=raw-aes",
        &format!("key={}", d.p("other.key")),
        "namespace=tests",
        "name=aes",
    ]));
    let out = d.trent(&dec, b"");
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no encrypted data key could be decrypted"));
    assert!(
        !d.files()
            .iter()
            .any(|f| f.contains("bad.bin") || f.contains(".trent-partial"))
    );
}

#[test]
fn a_failed_decrypt_leaves_no_output_file() {
    let d = Dir::new();
    std::fs::write(d.path.join("plain.bin"), data(50_000)).unwrap();
    for algorithm in ["0x0578", "0x0478"] {
        let mut enc = args(&[
            "encrypt",
            "-i",
            "plain.bin",
            "-o",
            "m.enc",
            "--algorithm",
            algorithm,
        ]);
        enc.extend(d.aes());
        assert_eq!(code(&d.trent(&enc, b"")), 0);
        let good = std::fs::read(d.path.join("m.enc")).unwrap();
        // The last byte (signature or final tag), a middle frame byte, and a truncation: the
        // frames before the failure were written to a temporary file, which is removed.
        let mut last = good.clone();
        *last.last_mut().unwrap() ^= 1;
        let mut middle = good.clone();
        middle[good.len() / 2] ^= 1;
        let cut = good[..good.len() - 10].to_vec();
        for bad in [last, middle, cut] {
            std::fs::write(d.path.join("bad.enc"), &bad).unwrap();
            for output in ["bad.out", "-"] {
                let mut dec = args(&["decrypt", "-i", "bad.enc", "-o", output]);
                dec.extend(d.aes());
                let out = d.trent(&dec, b"");
                assert_eq!(code(&out), 1, "{}", stderr(&out));
                if algorithm == "0x0578" && output == "-" {
                    assert!(out.stdout.is_empty(), "no unverified plaintext on stdout");
                }
            }
            assert!(
                !d.files()
                    .iter()
                    .any(|f| f.contains("bad.out") || f.contains(".trent-partial")),
                "{:?}",
                d.files()
            );
        }
        // A signed message larger than the stdout bound is an error there, but fine to a file.
        if algorithm == "0x0578" {
            let mut dec = args(&[
                "decrypt",
                "-i",
                "m.enc",
                "-o",
                "-",
                "--max-buffered-bytes",
                "1000",
            ]);
            dec.extend(d.aes());
            let out = d.trent(&dec, b"");
            assert_eq!(code(&out), 1);
            assert!(out.stdout.is_empty());
            let mut dec = args(&[
                "decrypt",
                "-i",
                "m.enc",
                "-o",
                "ok.out",
                "--max-buffered-bytes",
                "1000",
            ]);
            dec.extend(d.aes());
            assert_eq!(code(&d.trent(&dec, b"")), 0);
            assert_eq!(std::fs::read(d.path.join("ok.out")).unwrap(), data(50_000));
        }
    }
}

/// Runs `trent args` with `pipe` (a FIFO) as its output and returns its outcome and what came
/// out of the pipe.
fn through_pipe(d: &Dir, pipe: &Path, args: &[String]) -> (Output, Vec<u8>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn({
        let pipe = pipe.to_path_buf();
        move || tx.send(std::fs::read(pipe).unwrap())
    });
    let out = d.trent(args, b"");
    // A trent that never opened the pipe (one that renamed a file over it) leaves the reader
    // waiting for a writer: that is a failure, not a hang.
    let read = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("trent never wrote to the pipe: {}", stderr(&out)));
    (out, read)
}

/// An existing device or pipe given as `-o` is written in place: renaming a temporary file over
/// it would replace it (`-o /dev/null` run as root would replace the machine's /dev/null; a
/// pipe, the same code path, is what this test replaces). A signed message's plaintext goes to
/// it only once the signature verifies, as on stdout.
#[test]
fn a_pipe_or_device_output_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt as _;
    let d = Dir::new();
    let plain = data(300_000);
    std::fs::write(d.path.join("plain.bin"), &plain).unwrap();
    let pipe = d.path.join("pipe");
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success());
    let is_fifo = || {
        std::fs::symlink_metadata(&pipe)
            .unwrap()
            .file_type()
            .is_fifo()
    };
    let pipe_arg = pipe.display().to_string();

    let mut enc = args(&["encrypt", "-i", "plain.bin", "-o", &pipe_arg]);
    enc.extend(d.aes());
    let (out, message) = through_pipe(&d, &pipe, &enc);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(is_fifo(), "the pipe was replaced");
    std::fs::write(d.path.join("m.enc"), &message).unwrap();

    let mut dec = args(&["decrypt", "-i", "m.enc", "-o", &pipe_arg]);
    dec.extend(d.aes());
    let (out, back) = through_pipe(&d, &pipe, &dec);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(back, plain);
    assert!(is_fifo());

    // A forged signature: nothing reaches the pipe, as nothing reaches stdout.
    let mut forged = message.clone();
    *forged.last_mut().unwrap() ^= 1;
    std::fs::write(d.path.join("forged.enc"), &forged).unwrap();
    let mut dec = args(&["decrypt", "-i", "forged.enc", "-o", &pipe_arg]);
    dec.extend(d.aes());
    let (out, leaked) = through_pipe(&d, &pipe, &dec);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(leaked.is_empty(), "{} unverified bytes", leaked.len());
    assert!(is_fifo());
    assert!(!d.files().iter().any(|f| f.contains(".trent-partial")));
}

#[test]
fn directories_recursive_with_output_naming() {
    let d = Dir::new();
    let src = d.path.join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("top.txt"), b"top").unwrap();
    std::fs::write(src.join("a/mid.txt"), data(5000)).unwrap();
    std::fs::write(src.join("a/b/empty"), b"").unwrap();
    let mut enc = args(&["encrypt", "-i", "src", "-o", "enc"]);
    enc.extend(d.aes());
    let out = d.trent(&enc, b"");
    assert_eq!(code(&out), 2, "a directory needs --recursive");
    enc.push("-r".into());
    let out = d.trent(&enc, b"");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut dec = args(&["decrypt", "-r", "-i", "enc", "-o", "dec"]);
    dec.extend(d.aes());
    let out = d.trent(&dec, b"");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let files: Vec<String> = d
        .files()
        .into_iter()
        .filter(|f| f.starts_with("enc/") || f.starts_with("dec/"))
        .collect();
    assert_eq!(
        files,
        [
            "dec/a/b/empty.encrypted.decrypted",
            "dec/a/mid.txt.encrypted.decrypted",
            "dec/top.txt.encrypted.decrypted",
            "enc/a/b/empty.encrypted",
            "enc/a/mid.txt.encrypted",
            "enc/top.txt.encrypted",
        ]
    );
    assert_eq!(
        std::fs::read(d.path.join("dec/a/mid.txt.encrypted.decrypted")).unwrap(),
        data(5000)
    );
    assert_eq!(
        std::fs::read(d.path.join("dec/top.txt.encrypted.decrypted")).unwrap(),
        b"top"
    );
    // A custom suffix; a single file into an existing directory.
    let mut enc = args(&[
        "encrypt",
        "-i",
        "src/top.txt",
        "-o",
        "enc",
        "--suffix",
        ".esdk",
    ]);
    enc.extend(d.aes());
    assert_eq!(code(&d.trent(&enc, b"")), 0);
    assert!(d.path.join("enc/top.txt.esdk").is_file());
}

#[test]
fn standard_streams_policies_limits_and_exit_codes() {
    let d = Dir::new();
    let pt = data(70_000);
    let mut enc = args(&["encrypt", "-i", "-", "-o", "-", "--frame-length", "512"]);
    enc.extend(d.aes());
    let out = d.trent(&enc, &pt);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let message = out.stdout;
    let mut dec = args(&["decrypt", "-i", "-", "-o", "-"]);
    dec.extend(d.aes());
    let out = d.trent(&dec, &message);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, pt);

    // Several sealing threads: a message any reader opens.
    let big = data(3_000_000);
    let mut threaded = enc.clone();
    threaded.extend(args(&["--threads", "4"]));
    let out = d.trent(&threaded, &big);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(d.trent(&dec, &out.stdout).stdout, big);
    let mut dec_threaded = dec.clone();
    dec_threaded.extend(args(&["--threads", "3"]));
    assert_eq!(d.trent(&dec_threaded, &out.stdout).stdout, big);
    let mut zero = enc.clone();
    zero.extend(args(&["--threads", "0"]));
    assert_eq!(code(&d.trent(&zero, &big)), 2);

    // --decrypt-unsigned refuses signed messages and streams unsigned ones.
    let mut unsigned = dec.clone();
    unsigned.push("--decrypt-unsigned".into());
    let out = d.trent(&unsigned, &message);
    assert_eq!(code(&out), 1);
    let mut enc_unsigned = enc.clone();
    enc_unsigned.extend(args(&["--algorithm", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"]));
    let m2 = d.trent(&enc_unsigned, &pt).stdout;
    let out = d.trent(&unsigned, &m2);
    assert_eq!(
        (code(&out), out.stdout == pt),
        (0, true),
        "{}",
        stderr(&out)
    );

    // A non-committing suite needs the forbid policy to write and an allow policy to read.
    let mut v1 = enc.clone();
    v1.extend(args(&["--algorithm", "0x0178"]));
    assert_eq!(code(&d.trent(&v1, &pt)), 1);
    v1.extend(args(&[
        "--commitment-policy",
        "forbid-encrypt-allow-decrypt",
    ]));
    let out = d.trent(&v1, &pt);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m1 = out.stdout;
    let out = d.trent(&dec, &m1);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("commitment policy"),
        "{}",
        stderr(&out)
    );
    let mut allow = dec.clone();
    allow.extend(args(&[
        "--commitment-policy",
        "require-encrypt-allow-decrypt",
    ]));
    assert_eq!(d.trent(&allow, &m1).stdout, pt);

    // The encrypted data key limit, both ways.
    let mut two = enc.clone();
    two.extend(args(&[
        "-w",
        "provider=raw-aes",
        &format!("key={}", d.p("other.key")),
        "namespace=tests",
        "name=other",
    ]));
    let mut limited = two.clone();
    limited.extend(args(&["--max-encrypted-data-keys", "1"]));
    assert_eq!(code(&d.trent(&limited, &pt)), 1);
    let m3 = d.trent(&two, &pt).stdout;
    let mut dec_limited = dec.clone();
    dec_limited.extend(args(&["--max-encrypted-data-keys", "1"]));
    let out = d.trent(&dec_limited, &m3);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("maximum of 1"));

    // Required encryption context: authenticated, not stored, must be supplied.
    let mut req = enc.clone();
    req.extend(args(&[
        "-c",
        "tenant=a",
        "kind=x",
        "--required-encryption-context-keys",
        "tenant",
    ]));
    let m4 = d.trent(&req, &pt).stdout;
    assert_eq!(code(&d.trent(&dec, &m4)), 1);
    let mut with = dec.clone();
    with.extend(args(&["-c", "tenant=a"]));
    assert_eq!(d.trent(&with, &m4).stdout, pt);

    // Usage errors exit 2, I/O errors 3, with a message.
    for bad in [
        args(&[
            "encrypt",
            "-i",
            "-",
            "-o",
            "-",
            "-w",
            "provider=raw-aes",
            "key=aes.key",
        ]),
        args(&[
            "encrypt",
            "-i",
            "-",
            "-o",
            "-",
            "-w",
            "provider=raw-aes",
            "key=rsa.der",
            "namespace=n",
        ]),
        args(&[
            "encrypt",
            "-i",
            "-",
            "-o",
            "-",
            "-w",
            "provider=kms",
            "key=x",
            "namespace=n",
        ]),
        args(&[
            "encrypt",
            "-i",
            "-",
            "-o",
            "-",
            "-w",
            "provider=raw-aes",
            "key=aes.key",
            "namespace=n",
            "-c",
            "aws-crypto-x=1",
        ]),
        args(&[
            "encrypt",
            "-i",
            "-",
            "-o",
            "-",
            "-w",
            "provider=raw-aes",
            "key=aes.key",
            "namespace=n",
            "--algorithm",
            "0x9999",
        ]),
        args(&[
            "encrypt",
            "-i",
            "-",
            "-o",
            "-",
            "-w",
            "provider=raw-aes",
            "key=aes.key",
            "namespace=n",
            "--frame-length",
            "0",
        ]),
        args(&["encrypt", "-i", "-", "-o", "-", "--frame-length", "1"]),
    ] {
        let out = d.trent(&bad, b"x");
        let c = code(&out);
        assert!(
            c == 2 || (c == 1 && stderr(&out).contains("reserved")),
            "{bad:?}: {c} {}",
            stderr(&out)
        );
        assert!(!stderr(&out).is_empty());
        assert!(out.stdout.is_empty());
    }
    let mut missing = args(&["encrypt", "-i", "missing.txt", "-o", "x"]);
    missing.extend(d.aes());
    let out = d.trent(&missing, b"");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
}

#[tokio::test]
async fn the_cli_and_python_read_each_others_files() {
    let Some(python) = find_esdk_python().await else {
        return;
    };
    let d = Dir::new();
    let pt = data(20_000);
    std::fs::write(d.path.join("plain.bin"), &pt).unwrap();
    // Python's raw AES master key: provider "tests", key name "aes".
    let script = d.path.join("py.py");
    std::fs::write(
        &script,
        r#"
import sys, aws_encryption_sdk
from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
op, key, src, dst = sys.argv[1:]
mk = RawMasterKey(provider_id="tests", key_id=b"aes", wrapping_key=WrappingKey(
    WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING, open(key, "rb").read(),
    EncryptionKeyType.SYMMETRIC))
client = aws_encryption_sdk.EncryptionSDKClient()
data = open(src, "rb").read()
if op == "encrypt":
    out, _ = client.encrypt(source=data, key_provider=mk, encryption_context={"from": "python"})
else:
    out, header = client.decrypt(source=data, key_provider=mk)
    assert header.encryption_context["from"] == "trent"
open(dst, "wb").write(out)
"#,
    )
    .unwrap();
    let py = |op: &str, src: &str, dst: &str| {
        let out = Command::new(&python)
            .arg(&script)
            .args([op, &d.p("aes.key"), &d.p(src), &d.p(dst)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    py("encrypt", "plain.bin", "from-python.enc");
    let mut dec = args(&[
        "decrypt",
        "-i",
        "from-python.enc",
        "-o",
        "from-python.out",
        "-c",
        "from=python",
    ]);
    dec.extend(d.aes());
    let out = d.trent(&dec, b"");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(d.path.join("from-python.out")).unwrap(), pt);

    let mut enc = args(&[
        "encrypt",
        "-i",
        "plain.bin",
        "-o",
        "from-trent.enc",
        "-c",
        "from=trent",
    ]);
    enc.extend(d.aes());
    assert_eq!(code(&d.trent(&enc, b"")), 0);
    py("decrypt", "from-trent.enc", "from-trent.out");
    assert_eq!(std::fs::read(d.path.join("from-trent.out")).unwrap(), pt);
}

#[test]
fn a_progress_line_when_stderr_is_a_terminal() {
    let d = Dir::new();
    std::fs::write(d.path.join("plain.bin"), data(3 << 20)).unwrap();
    let mut enc = vec![env!("CARGO_BIN_EXE_trent").to_owned()];
    enc.extend(args(&["encrypt", "-i", "plain.bin", "-o", "plain.enc"]));
    enc.extend(d.aes());
    // util-linux `script` runs the command on a pseudo-terminal and copies what it prints.
    let out = Command::new("script")
        .args(["-qec", &enc.join(" "), "/dev/null"])
        .current_dir(&d.path)
        .stdin(Stdio::null())
        .output();
    let Ok(out) = out else {
        eprintln!("skipping: no `script` to provide a terminal");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("plain.bin: 3.0 / 3.0 MiB (100%)"), "{text}");
    // Without a terminal (every other test), nothing is printed.
    let mut plain = args(&["encrypt", "-i", "plain.bin", "-o", "plain2.enc"]);
    plain.extend(d.aes());
    let out = d.trent(&plain, b"");
    assert_eq!(code(&out), 0);
    assert!(out.stderr.is_empty());
}
