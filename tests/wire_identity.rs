//! Wire identity with Google's own protos: Google's Python runtime (googleapis-common-protos)
//! and eeops' prost types must write the same bytes for the same values and read each other's
//! bytes back to the same values; and the descriptors eeops compiles must agree with Google's
//! field for field.
//!
//! Needs a Python with googleapis-common-protos, named by `EEOPS_PYTHON` (`.ci/run` sets it up).
//! Without it the tests print a notice and pass, except under CI (`CI` set), where they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::{Command, Stdio};

use eeops::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, OperationInfo, WaitOperationRequest, operation,
};
use eeops::pb::google::rpc::{self, Status};
use prost::Message;
use prost_types::{Any, DescriptorProto, Duration, FileDescriptorProto};
use serde_json::Value;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/wire_identity.py"
);

fn python() -> Option<String> {
    match std::env::var("EEOPS_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("EEOPS_PYTHON must name a Python with googleapis-common-protos under CI")
        }
        _ => {
            eprintln!("skipped: set EEOPS_PYTHON to a Python with googleapis-common-protos");
            None
        }
    }
}

fn run_python(py: &str, mode: &str, stdin: &str) -> Vec<Value> {
    let mut child = Command::new(py)
        .arg(SCRIPT)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write to python");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "python {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn pack<M: Message>(full_name: &str, m: &M) -> Any {
    Any {
        type_url: format!("type.googleapis.com/{full_name}"),
        value: m.encode_to_vec(),
    }
}

fn every_detail() -> Vec<(&'static str, Vec<u8>, Any)> {
    fn item<M: Message>(name: &'static str, m: M) -> (&'static str, Vec<u8>, Any) {
        (name, m.encode_to_vec(), pack(name, &m))
    }
    vec![
        item(
            "google.rpc.ErrorInfo",
            rpc::ErrorInfo {
                reason: "RATE_LIMIT".into(),
                domain: "earthengine.googleapis.com".into(),
                metadata: [("quota".to_string(), "tasks".to_string())].into(),
            },
        ),
        item(
            "google.rpc.RetryInfo",
            rpc::RetryInfo {
                retry_delay: Some(Duration {
                    seconds: 2,
                    nanos: 500_000_000,
                }),
            },
        ),
        item(
            "google.rpc.DebugInfo",
            rpc::DebugInfo {
                stack_entries: vec!["a.rs:1".into(), "b.rs:2".into()],
                detail: "stack".into(),
            },
        ),
        item(
            "google.rpc.QuotaFailure",
            rpc::QuotaFailure {
                violations: vec![rpc::quota_failure::Violation {
                    subject: "project:p".into(),
                    description: "too many".into(),
                    api_service: "earthengine.googleapis.com".into(),
                    quota_metric: "tasks".into(),
                    quota_id: "TasksPerDay".into(),
                    quota_dimensions: [("region".to_string(), "us".to_string())].into(),
                    quota_value: 3000,
                    future_quota_value: Some(4000),
                }],
            },
        ),
        item(
            "google.rpc.PreconditionFailure",
            rpc::PreconditionFailure {
                violations: vec![rpc::precondition_failure::Violation {
                    r#type: "TOS".into(),
                    subject: "p".into(),
                    description: "accept".into(),
                }],
            },
        ),
        item(
            "google.rpc.BadRequest",
            rpc::BadRequest {
                field_violations: vec![rpc::bad_request::FieldViolation {
                    field: "name".into(),
                    description: "bad".into(),
                    reason: "BAD_NAME".into(),
                    localized_message: Some(rpc::LocalizedMessage {
                        locale: "en-US".into(),
                        message: "Bad name".into(),
                    }),
                }],
            },
        ),
        item(
            "google.rpc.RequestInfo",
            rpc::RequestInfo {
                request_id: "req-1".into(),
                serving_data: "sd".into(),
            },
        ),
        item(
            "google.rpc.ResourceInfo",
            rpc::ResourceInfo {
                resource_type: "operation".into(),
                resource_name: "projects/p/operations/X".into(),
                owner: "me".into(),
                description: "d".into(),
            },
        ),
        item(
            "google.rpc.Help",
            rpc::Help {
                links: vec![rpc::help::Link {
                    description: "docs".into(),
                    url: "https://example.com/help".into(),
                }],
            },
        ),
        item(
            "google.rpc.LocalizedMessage",
            rpc::LocalizedMessage {
                locale: "fr-FR".into(),
                message: "Mauvais nom".into(),
            },
        ),
    ]
}

/// The same values as `fixtures()` in wire_identity.py, as (name, encoded bytes, decoder that
/// re-encodes what it decoded and says whether it equals the fixture).
type Check = Box<dyn Fn(&[u8]) -> (bool, Vec<u8>)>;

fn check_of<M: Message + Default + PartialEq + 'static>(value: M) -> (Vec<u8>, Check) {
    let bytes = value.encode_to_vec();
    let check: Check = Box::new(move |data: &[u8]| {
        let decoded = M::decode(data).expect("decodes");
        (decoded == value, decoded.encode_to_vec())
    });
    (bytes, check)
}

fn fixtures() -> Vec<(String, Vec<u8>, Check)> {
    let info = OperationInfo {
        response_type: "google.protobuf.Empty".into(),
        metadata_type: "google.earthengine.v1.OperationMetadata".into(),
    };
    let failed = Operation {
        name: "projects/p/operations/ABCDEFGHIJKLMNOPQRSTUVWX".into(),
        metadata: Some(pack("google.longrunning.OperationInfo", &info)),
        done: true,
        result: Some(operation::Result::Error(Status {
            code: 1,
            message: "Cancelled.".into(),
            details: every_detail().into_iter().map(|(_, _, any)| any).collect(),
        })),
    };
    let succeeded = Operation {
        name: "projects/p/operations/X/Y".into(),
        metadata: Some(pack("google.longrunning.OperationInfo", &info)),
        done: true,
        result: Some(operation::Result::Response(pack(
            "google.rpc.RequestInfo",
            &rpc::RequestInfo {
                request_id: "r".into(),
                serving_data: "s".into(),
            },
        ))),
    };
    let mut out: Vec<(String, Vec<u8>, Check)> = Vec::new();
    let mut add =
        |name: &str, (bytes, check): (Vec<u8>, Check)| out.push((name.to_owned(), bytes, check));
    add(
        "google.longrunning.Operation#error",
        check_of(failed.clone()),
    );
    add(
        "google.longrunning.Operation#response",
        check_of(succeeded.clone()),
    );
    add(
        "google.longrunning.ListOperationsResponse",
        check_of(ListOperationsResponse {
            operations: vec![failed, succeeded],
            next_page_token: "tok-2".into(),
            unreachable: vec!["projects/q".into(), "projects/r".into()],
        }),
    );
    add(
        "google.longrunning.ListOperationsRequest",
        check_of(ListOperationsRequest {
            name: "projects/p".into(),
            filter: "done = false".into(),
            page_size: 500,
            page_token: "tok-1".into(),
            return_partial_success: true,
        }),
    );
    add(
        "google.longrunning.GetOperationRequest",
        check_of(GetOperationRequest {
            name: "projects/p/operations/A".into(),
        }),
    );
    add(
        "google.longrunning.CancelOperationRequest",
        check_of(CancelOperationRequest {
            name: "projects/p/operations/B".into(),
        }),
    );
    add(
        "google.longrunning.DeleteOperationRequest",
        check_of(DeleteOperationRequest {
            name: "projects/p/operations/C".into(),
        }),
    );
    add(
        "google.longrunning.WaitOperationRequest",
        check_of(WaitOperationRequest {
            name: "projects/p/operations/D".into(),
            timeout: Some(Duration {
                seconds: 3,
                nanos: 500_000_000,
            }),
        }),
    );
    add("google.longrunning.OperationInfo", check_of(info));
    // Each detail on its own, through the generic Any-free path: compare bytes only via
    // re-decoding as the concrete type.
    for (name, bytes, _) in every_detail() {
        let check: Check = match name {
            "google.rpc.ErrorInfo" => {
                check_of(rpc::ErrorInfo::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.RetryInfo" => {
                check_of(rpc::RetryInfo::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.DebugInfo" => {
                check_of(rpc::DebugInfo::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.QuotaFailure" => {
                check_of(rpc::QuotaFailure::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.PreconditionFailure" => {
                check_of(rpc::PreconditionFailure::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.BadRequest" => {
                check_of(rpc::BadRequest::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.RequestInfo" => {
                check_of(rpc::RequestInfo::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.ResourceInfo" => {
                check_of(rpc::ResourceInfo::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.Help" => {
                check_of(rpc::Help::decode(bytes.as_slice()).expect("own bytes")).1
            }
            "google.rpc.LocalizedMessage" => {
                check_of(rpc::LocalizedMessage::decode(bytes.as_slice()).expect("own bytes")).1
            }
            other => panic!("no check for {other}"),
        };
        add(name, (bytes, check));
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn google_bytes_decode_to_our_values_and_reencode_identically() {
    let Some(py) = python() else { return };
    let theirs: BTreeMap<String, Vec<u8>> = run_python(&py, "emit", "")
        .into_iter()
        .map(|v| {
            (
                v["message"].as_str().expect("name").to_owned(),
                unhex(v["hex"].as_str().expect("hex")),
            )
        })
        .collect();
    let ours = fixtures();
    assert_eq!(
        theirs.len(),
        ours.len(),
        "both sides build the same fixtures"
    );
    for (name, our_bytes, check) in &ours {
        let their_bytes = theirs
            .get(name)
            .unwrap_or_else(|| panic!("python has no fixture {name}"));
        assert_eq!(
            hex(our_bytes),
            hex(their_bytes),
            "{name}: prost and Google's runtime write different bytes"
        );
        let (equal, reencoded) = check(their_bytes);
        assert!(equal, "{name}: Google's bytes decode to a different value");
        assert_eq!(
            &reencoded, their_bytes,
            "{name}: re-encoding changed the bytes"
        );
    }
}

#[test]
fn our_bytes_decode_in_google_runtime_to_the_same_values() {
    let Some(py) = python() else { return };
    let input: String = fixtures()
        .iter()
        .map(|(name, bytes, _)| {
            serde_json::json!({"message": name, "hex": hex(bytes)}).to_string() + "\n"
        })
        .collect();
    let results = run_python(&py, "check", &input);
    assert_eq!(results.len(), fixtures().len());
    for r in results {
        assert_eq!(
            r["equal"], true,
            "{}: Google's runtime reads a different value",
            r["message"]
        );
        assert_eq!(
            r["same_bytes"], true,
            "{}: Google's runtime re-encodes differently",
            r["message"]
        );
    }
}

/// The JSON name: as recorded, or (Python's `CopyToProto` leaves it out) derived the way protoc
/// derives it: underscores dropped, the letter after each one upper-cased.
fn json_name(f: &prost_types::FieldDescriptorProto) -> String {
    if !f.json_name().is_empty() {
        return f.json_name().to_owned();
    }
    let mut out = String::new();
    let mut upper = false;
    for c in f.name().chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Field facts that decide the wire format and the JSON names.
fn fields_of(m: &DescriptorProto) -> BTreeSet<String> {
    m.field
        .iter()
        .map(|f| {
            let oneof = f
                .oneof_index
                .filter(|_| !f.proto3_optional())
                .and_then(|i| m.oneof_decl.get(i as usize))
                .map(|o| o.name().to_owned())
                .unwrap_or_default();
            format!(
                "{}={} {:?} {:?} {} json={} oneof={} opt={}",
                f.name(),
                f.number(),
                f.label(),
                f.r#type(),
                f.type_name(),
                json_name(f),
                oneof,
                f.proto3_optional()
            )
        })
        .collect()
}

fn messages(prefix: &str, list: &[DescriptorProto], out: &mut BTreeMap<String, BTreeSet<String>>) {
    for m in list {
        let name = format!("{prefix}.{}", m.name());
        out.insert(name.clone(), fields_of(m));
        messages(&name, &m.nested_type, out);
    }
}

fn file_facts(
    f: &FileDescriptorProto,
) -> (
    BTreeMap<String, BTreeSet<String>>,
    BTreeSet<String>,
    BTreeSet<String>,
) {
    let mut msgs = BTreeMap::new();
    messages(&format!(".{}", f.package()), &f.message_type, &mut msgs);
    let exts = f
        .extension
        .iter()
        .map(|e| {
            format!(
                "{} {}={} {:?} {:?} {}",
                e.extendee(),
                e.name(),
                e.number(),
                e.label(),
                e.r#type(),
                e.type_name()
            )
        })
        .collect();
    let mut enums: BTreeSet<String> = BTreeSet::new();
    for e in &f.enum_type {
        for v in &e.value {
            enums.insert(format!("{}.{}={}", e.name(), v.name(), v.number()));
        }
    }
    (msgs, exts, enums)
}

#[test]
fn our_descriptors_agree_with_googles() {
    let Some(py) = python() else { return };
    let ours = prost_types::FileDescriptorSet::decode(eeops::pb::FILE_DESCRIPTOR_SET)
        .expect("our descriptor set");
    let files = run_python(&py, "descriptors", "");
    assert_eq!(files.len(), 8);
    for file in files {
        let path = file["file"].as_str().expect("file");
        let theirs =
            FileDescriptorProto::decode(unhex(file["hex"].as_str().expect("hex")).as_slice())
                .expect("decodes");
        let mine = ours
            .file
            .iter()
            .find(|f| f.name() == path)
            .unwrap_or_else(|| panic!("we have no {path}"));
        assert_eq!(mine.package(), theirs.package(), "{path}: package");
        let (my_msgs, my_exts, my_enums) = file_facts(mine);
        let (their_msgs, their_exts, their_enums) = file_facts(&theirs);
        // client.proto upstream holds far more than the few options eeops uses: there, ours
        // must be a subset; everywhere else, the same.
        let subset = path == "google/api/client.proto";
        for (name, fields) in &my_msgs {
            let theirs = their_msgs
                .get(name)
                .unwrap_or_else(|| panic!("{path}: Google has no message {name}"));
            assert_eq!(fields, theirs, "{path}: message {name} differs");
        }
        for e in &my_exts {
            assert!(
                their_exts.contains(e),
                "{path}: extension {e} not in Google's file"
            );
        }
        assert!(
            my_enums.is_subset(&their_enums),
            "{path}: enum values differ"
        );
        if !subset {
            assert_eq!(
                my_msgs.keys().collect::<Vec<_>>(),
                their_msgs.keys().collect::<Vec<_>>(),
                "{path}: message set"
            );
            assert_eq!(my_exts, their_exts, "{path}: extensions");
            assert_eq!(my_enums, their_enums, "{path}: enums");
            assert_eq!(
                mine.dependency.iter().collect::<BTreeSet<_>>(),
                theirs.dependency.iter().collect::<BTreeSet<_>>(),
                "{path}: imports"
            );
            let (mo, to) = (
                mine.options.clone().unwrap_or_default(),
                theirs.options.clone().unwrap_or_default(),
            );
            assert_eq!(
                (
                    mo.java_package(),
                    mo.java_outer_classname(),
                    mo.go_package(),
                    mo.java_multiple_files(),
                    mo.objc_class_prefix(),
                    mo.csharp_namespace(),
                    mo.php_namespace()
                ),
                (
                    to.java_package(),
                    to.java_outer_classname(),
                    to.go_package(),
                    to.java_multiple_files(),
                    to.objc_class_prefix(),
                    to.csharp_namespace(),
                    to.php_namespace()
                ),
                "{path}: file options"
            );
        }
    }
    // The service: same methods with the same types.
    let svc = |f: &FileDescriptorProto| -> BTreeSet<String> {
        f.service
            .iter()
            .flat_map(|s| {
                s.method.iter().map(move |m| {
                    format!(
                        "{}.{}({})->{}",
                        s.name(),
                        m.name(),
                        m.input_type(),
                        m.output_type()
                    )
                })
            })
            .collect()
    };
    let theirs = run_python(&py, "descriptors", "")
        .into_iter()
        .find(|f| f["file"] == "google/longrunning/operations.proto")
        .map(|f| {
            FileDescriptorProto::decode(unhex(f["hex"].as_str().expect("hex")).as_slice())
                .expect("decodes")
        })
        .expect("operations.proto");
    let mine = ours
        .file
        .iter()
        .find(|f| f.name() == "google/longrunning/operations.proto")
        .expect("ours");
    assert_eq!(svc(mine), svc(&theirs));
}
