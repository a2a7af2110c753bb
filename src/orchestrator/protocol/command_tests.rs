use super::*;
use crate::orchestrator::protocol::reply::*;
use crate::orchestrator::protocol::routing_key_with_role;

/// Parse `body`, check it is the command `expected`, and that re-serialising gives `body`.
fn round_trip(body: &str, expected: Command) {
    let msg: CommandMessage = serde_json::from_str(body).unwrap();
    assert_eq!(msg.payload.content.command, expected);
    assert_eq!(String::from_utf8(msg.to_body()).unwrap(), body);
    match IncomingMessage::parse(body.as_bytes()).unwrap() {
        IncomingMessage::Command(c) => assert_eq!(c.command, expected),
        other => panic!("{other:?}"),
    }
}

#[test]
fn load_is_serialised_in_the_toolkit_order() {
    let cmd = Command::Load {
        path_to_root_folder: Some("diff".into()),
        verbose: false,
        debug: false,
        ignore_relation_fail: false,
        use_backup_folder: true,
        merge: true,
    };
    let body = r#"{"messageFamily":0,"payload":{"c":16,"content":{"command":"load","pathToRootFolder":"diff","verbose":false,"debug":false,"ignoreRelationFail":false,"useBackupFolder":true,"merge":true,"replyQueue":"OLYMPE_TOOLKIT_REPLY_QUEUE_K2J9X1Q7_3"}}}"#;
    assert_eq!(
        String::from_utf8(
            CommandMessage::new(cmd.clone(), "OLYMPE_TOOLKIT_REPLY_QUEUE_K2J9X1Q7_3").to_body()
        )
        .unwrap(),
        body
    );
    round_trip(body, cmd);
    // install's load: no pathToRootFolder at all
    round_trip(
        r#"{"messageFamily":0,"payload":{"c":16,"content":{"command":"load","verbose":false,"debug":false,"ignoreRelationFail":false,"useBackupFolder":false,"merge":false,"replyQueue":"Q_1"}}}"#,
        Command::Load {
            path_to_root_folder: None,
            verbose: false,
            debug: false,
            ignore_relation_fail: false,
            use_backup_folder: false,
            merge: false,
        },
    );
}

#[test]
fn every_command_round_trips() {
    let q = r#","replyQueue":"Q_1"}}}"#;
    let cases: Vec<(&str, Command)> = vec![
        (
            r#""command":"resetDB","force":true"#,
            Command::ResetDb { force: true },
        ),
        (r#""command":"createToken""#, Command::CreateToken),
        (r#""command":"statsDB""#, Command::StatsDb),
        (r#""command":"checkDB""#, Command::CheckDb),
        (
            r#""command":"refreshSubscriptionCache""#,
            Command::RefreshSubscriptionCache,
        ),
        (
            r#""command":"broadcastRefreshApp""#,
            Command::BroadcastRefreshApp,
        ),
        (
            r#""command":"updateDone","noDownTime":false"#,
            Command::UpdateDone {
                no_down_time: false,
            },
        ),
        (
            r#""command":"codeAsDataReadMode","activate":true"#,
            Command::CodeAsDataReadMode { activate: true },
        ),
        (
            r#""command":"loadPatch","filePath":"a/b.json","debug":false,"ignoreRelationFail":true"#,
            Command::LoadPatch {
                file_path: "a/b.json".into(),
                debug: false,
                ignore_relation_fail: true,
            },
        ),
        (
            r#""command":"setPassword","userName":"admin","userTag":"014831d95fd7d12b8568","userPassword":"pw""#,
            Command::SetPassword {
                user_name: "admin".into(),
                user_tag: "014831d95fd7d12b8568".into(),
                user_password: "pw".into(),
            },
        ),
        (
            r#""command":"checkIfNodesExist","nodeTagsArray":"[\"014831d95fd7d12b8568\",\"10000000000000000001\"]""#,
            Command::check_if_nodes_exist(&["014831d95fd7d12b8568", "10000000000000000001"]),
        ),
        (
            r#""command":"getRootTags","rootFolder":"diff","useBackupFolder":false"#,
            Command::GetRootTags {
                root_folder: Some("diff".into()),
                use_backup_folder: false,
            },
        ),
        (
            r#""command":"unzipPatches","useBackupFolder":true,"filePath":"import_1.zip""#,
            Command::UnzipPatches {
                use_backup_folder: true,
                file_path: Some("import_1.zip".into()),
                folder_path: None,
            },
        ),
        (
            r#""command":"copyPatches","sources":"[{\"destinationFilePath\":\"import_20250101_120000.zip\",\"zip\":true}]","backup":false,"destinationFolder":"""#,
            Command::copy_patches(
                &[CopySource::Zip {
                    destination_file_path: "import_20250101_120000.zip".into(),
                    zip: true,
                }],
                false,
                "",
            ),
        ),
        (
            r#""command":"copyPatches","sources":"[{\"filePath\":\"m/x.newInst.json\",\"recursive\":false}]","backup":false,"destinationFolder":"diff""#,
            Command::copy_patches(
                &[CopySource::File {
                    file_path: "m/x.newInst.json".into(),
                    recursive: false,
                }],
                false,
                "diff",
            ),
        ),
        (
            r#""command":"loadBinaryFiles""#,
            Command::LoadBinaryFiles { folder_path: None },
        ),
        (
            r#""command":"loadBinaryFiles","folderPath":"m/f""#,
            Command::LoadBinaryFiles {
                folder_path: Some("m/f".into()),
            },
        ),
        (
            r#""command":"updateNode","tag":"0171bc740109f879cd90","nodePropertiesJson":"{\"017869c80bb9929c76d0\":\"2.9.3\"}""#,
            Command::update_node(
                "0171bc740109f879cd90",
                &serde_json::json!({"017869c80bb9929c76d0":"2.9.3"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        ),
        (
            r#""command":"startGC","fileSvc":true,"backupSvc":true,"backupFolder":false,"sessions":false,"jvm":false,"subscriptions":false,"graphDefCache":false"#,
            Command::StartGc {
                file_svc: true,
                backup_svc: true,
                backup_folder: false,
                sessions: false,
                jvm: false,
                subscriptions: false,
                graph_def_cache: false,
            },
        ),
    ];
    for (fields, cmd) in cases {
        let body = format!(r#"{{"messageFamily":0,"payload":{{"c":16,"content":{{{fields}{q}"#);
        assert!(COMMAND_NAMES.contains(&cmd.name()));
        round_trip(&body, cmd);
    }
}

#[test]
fn coerced_values_are_accepted() {
    // The toolkit coerces an all-digit password to a number and `1` to a number.
    let body = br#"{"messageFamily":0,"payload":{"c":16,"content":{"command":"setPassword","userName":"admin","userTag":"014831d95fd7d12b8568","userPassword":1234,"replyQueue":"Q"}}}"#;
    let IncomingMessage::Command(c) = IncomingMessage::parse(body).unwrap() else {
        panic!()
    };
    assert!(
        matches!(c.command, Command::SetPassword { ref user_password, .. } if user_password == "1234")
    );
    let body = br#"{"messageFamily":0,"payload":{"c":16,"content":{"command":"codeAsDataReadMode","activate":0,"replyQueue":"Q"}}}"#;
    let IncomingMessage::Command(c) = IncomingMessage::parse(body).unwrap() else {
        panic!()
    };
    assert_eq!(c.command, Command::CodeAsDataReadMode { activate: false });
}

#[test]
fn deployment_message() {
    let on = r#"{"messageFamily":0,"payload":{"c":17,"content":{"gateway_service":false}}}"#;
    assert_eq!(
        String::from_utf8(DeploymentMessage::maintenance(true).to_body()).unwrap(),
        on
    );
    assert_eq!(
        IncomingMessage::parse(on.as_bytes()).unwrap(),
        IncomingMessage::Deployment(DeploymentContent {
            gateway_service: false
        })
    );
}

#[test]
fn unknown_and_malformed_messages() {
    let body = br#"{"messageFamily":0,"payload":{"c":16,"content":{"command":"frobnicate","replyQueue":"Q_9"}}}"#;
    assert!(
        matches!(IncomingMessage::parse(body), Err(ProtocolError::UnknownCommand(n)) if n == "frobnicate")
    );
    assert_eq!(reply_queue_of(body).as_deref(), Some("Q_9"));
    assert!(matches!(
        IncomingMessage::parse(b"nope"),
        Err(ProtocolError::NotJson(_))
    ));
    assert!(matches!(
        IncomingMessage::parse(br#"{"messageFamily":0,"payload":{"c":3,"content":{}}}"#),
        Err(ProtocolError::UnexpectedType(3))
    ));
    assert!(matches!(
        IncomingMessage::parse(
            br#"{"messageFamily":0,"payload":{"c":16,"content":{"command":"resetDB"}}}"#
        ),
        Err(ProtocolError::InvalidFields { .. })
    ));
}

#[test]
fn routing_keys_and_queues() {
    assert_eq!(
        routing_key_with_role("COMMAND_ROUTING_KEY", None),
        "COMMAND_ROUTING_KEY"
    );
    assert_eq!(
        routing_key_with_role("COMMAND_ROUTING_KEY", Some("active")),
        "COMMAND_ROUTING_KEY"
    );
    assert_eq!(
        routing_key_with_role("COMMAND_ROUTING_KEY", Some("preview")),
        "COMMAND_ROUTING_KEY_preview"
    );
    assert!(!Command::CodeAsDataReadMode { activate: true }.uses_role());
    assert!(Command::StatsDb.uses_role());
    let prefix = reply_queue_prefix();
    assert!(prefix.starts_with(REPLY_QUEUE_PREFIX) && prefix.ends_with('_'));
    let random = &prefix[REPLY_QUEUE_PREFIX.len()..prefix.len() - 1];
    assert!(
        !random.is_empty()
            && random
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    assert_eq!(reply_queue_name(&prefix, 3), format!("{prefix}3"));
}

#[test]
fn reply_lines_are_classified_like_the_toolkit() {
    assert_eq!(status_line(0), "Command finished with status code: 0");
    assert_eq!(
        ReplyLine::classify(&status_line(0)),
        ReplyLine::Finished {
            success: true,
            line: status_line(0)
        }
    );
    assert!(matches!(
        ReplyLine::classify(&status_line(10)),
        ReplyLine::Finished { success: false, .. }
    ));
    assert!(matches!(
        ReplyLine::classify(&unknown_command_line("x")),
        ReplyLine::UnknownCommand(_)
    ));
    assert_eq!(ReplyLine::classify("a\nb"), ReplyLine::Result("a b".into()));
}

#[test]
fn timeouts() {
    let load = Command::Load {
        path_to_root_folder: None,
        verbose: false,
        debug: false,
        ignore_relation_fail: false,
        use_backup_folder: false,
        merge: false,
    };
    assert_eq!(load.timeout_ms(1, 2), 2);
    assert_eq!(Command::StatsDb.timeout_ms(1, 2), 1);
    let unzip = Command::UnzipPatches {
        use_backup_folder: true,
        file_path: Some("a.zip".into()),
        folder_path: None,
    };
    assert_eq!(
        unzip.timeout_ms(1, 2),
        crate::orchestrator::protocol::UNZIP_FILE_TIMEOUT_MS
    );
}
