//! Against the machine's nats-server with JetStream (127.0.0.1:4222, or VIGIL_TEST_NATS): publish with
//! de-duplication ids, a durable pull consumer, acknowledgement and redelivery, rejection, and the errors of an
//! unreachable server. Each test uses a stream and consumer of its own and deletes the stream at the end. Skips
//! loudly when no server answers (CI starts one: .ci/run).

use std::time::Duration;

#[path = "support/auth_server.rs"]
mod auth_server;
use auth_server::{auth_server, jwt, operator_server, Operator};
use vigil_bus::{sightings, Bus, BusError, ConsumerSpec, Endpoint, Options, Outgoing, StreamSpec};

fn nats_url() -> String {
    std::env::var("VIGIL_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn connect() -> Option<Bus> {
    let url = nats_url();
    match Bus::connect(
        &Endpoint::parse(&url).expect("test URL"),
        &Options::default(),
    ) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!(
                "SKIPPED: no NATS server with JetStream at {} ({e}); start one with `nats-server -a 127.0.0.1 -p 4222 -js`",
                vigil_bus::redact(&url)
            );
            None
        }
    }
}

/// A stream of the test's own, deleted when dropped (also when the test fails).
struct TempStream<'a> {
    bus: &'a Bus,
    name: String,
}

impl Drop for TempStream<'_> {
    fn drop(&mut self) {
        let _ = self.bus.delete_stream(&self.name);
    }
}

fn temp_stream<'a>(bus: &'a Bus, tag: &str) -> (TempStream<'a>, String) {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("VIGIL_TEST_{tag}_{}", &suffix[..12]);
    // A subject space of its own too: two streams may not share subjects.
    let subjects = format!("vigiltest.{}.>", &suffix[..12]);
    let spec = StreamSpec::sightings(&name, subjects.trim_end_matches(".>"));
    assert_eq!(spec.subjects, vec![subjects.clone()]);
    bus.ensure_stream(&spec).expect("stream");
    // Again: an existing stream is kept as it is.
    bus.ensure_stream(&spec).expect("stream again");
    (
        TempStream { bus, name },
        subjects.trim_end_matches(".>").to_string(),
    )
}

fn msg(prefix: &str, id: &str, body: &str) -> Outgoing {
    Outgoing {
        subject: format!("{prefix}.operator"),
        msg_id: id.to_string(),
        payload: body.as_bytes().to_vec(),
    }
}

#[test]
fn published_messages_are_deduplicated_and_acknowledged_by_the_consumer() {
    let Some(bus) = connect() else { return };
    let (stream, prefix) = temp_stream(&bus, "DEDUP");
    let acks = bus
        .publish_all(&[
            msg(&prefix, "run1/a", "one"),
            msg(&prefix, "run1/b", "two"),
            msg(&prefix, "run1/a", "one again"),
        ])
        .expect("publish");
    assert_eq!(
        acks.iter().map(|a| a.duplicate).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    let spec = ConsumerSpec {
        stream: stream.name.clone(),
        durable: "test-recorder".into(),
        filter: format!("{prefix}.>"),
        ack_wait: Duration::from_secs(1),
    };
    let c = bus.consumer(&spec).expect("consumer");
    let got = c.fetch(10, Duration::ZERO).expect("fetch");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].payload(), b"one");
    assert_eq!(got[0].msg_id(), Some("run1/a"));
    assert_eq!(got[1].subject(), format!("{prefix}.operator"));
    assert_eq!(got[0].delivered(), 1);
    // The first is acknowledged; the second is not and comes again after ack_wait.
    got[0].ack().expect("ack");
    drop(got);
    let again = c.fetch(10, Duration::from_secs(5)).expect("fetch again");
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].payload(), b"two");
    assert_eq!(again[0].delivered(), 2);
    again[0].reject().expect("term");
    // A second handle on the same durable consumer resumes where the first stopped.
    let c2 = bus.consumer(&spec).expect("consumer again");
    assert!(c2
        .fetch(10, Duration::from_millis(300))
        .expect("fetch")
        .is_empty());
    // Waiting: a message published meanwhile arrives within the wait.
    bus.publish_all(&[msg(&prefix, "run2/a", "three")])
        .expect("publish");
    let late = c2.fetch(10, Duration::from_secs(2)).expect("fetch");
    assert_eq!(late.len(), 1);
    late[0].ack().expect("ack");
}

#[test]
fn unreachable_server_is_named_without_credentials() {
    // A port nothing listens on (the discard port on loopback).
    let e = Endpoint::parse("nats://sensor:Secr3tPassw0rd@127.0.0.1:9").expect("url");
    let err = match Bus::connect(&e, &Options::default()) {
        Ok(_) => panic!("connected to port 9"),
        Err(err) => err,
    };
    assert!(matches!(err, BusError::Connect { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("127.0.0.1:9"), "{text}");
    assert!(
        !text.contains("Secr3t") && !text.contains("sensor"),
        "{text}"
    );
}

#[test]
fn publishing_without_a_stream_fails_clearly() {
    let Some(bus) = connect() else { return };
    let subject = format!("vigiltest-nostream.{}", uuid::Uuid::new_v4().simple());
    let err = bus
        .publish_all(&[Outgoing {
            subject: subject.clone(),
            msg_id: "x".into(),
            payload: b"x".to_vec(),
        }])
        .expect_err("no stream takes it");
    assert!(err.to_string().contains(&subject), "{err}");
    assert_eq!(
        sightings::subject(sightings::PREFIX, Some(7)),
        "vigil.sightings.7"
    );
    assert_eq!(
        sightings::subject(sightings::PREFIX, None),
        "vigil.sightings.operator"
    );
}

/// Credentials kept out of the URL: an NKey seed (the server holds only the public key) and a password given
/// apart; wrong ones are refused by the server with messages that show neither.
#[test]
fn nkey_and_password_logins() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let Some(srv) = auth_server(&user.public_key(), "sensor", "pa55-w0rd") else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", srv.port);
    let opts = Options::default();
    let bus = Bus::connect(
        &Endpoint::parse(&url)
            .expect("url")
            .with_nkey_seed(&seed)
            .expect("seed"),
        &opts,
    )
    .expect("an NKey the server knows");
    let (_stream, prefix) = temp_stream(&bus, "NKEY");
    let acked = bus
        .publish_all(&[msg(&prefix, "k1", "{}")])
        .expect("publish with an NKey");
    assert_eq!(acked.len(), 1);
    let by_password = Endpoint::parse(&format!("nats://sensor@127.0.0.1:{}", srv.port))
        .expect("url")
        .with_secret("pa55-w0rd")
        .expect("password");
    Bus::connect(&by_password, &opts).expect("the user's password");

    let stranger = nkeys::KeyPair::new_user().seed().expect("seed");
    let refused = [
        Endpoint::parse(&url)
            .expect("url")
            .with_nkey_seed(&stranger)
            .expect("seed"),
        Endpoint::parse(&format!("nats://sensor@127.0.0.1:{}", srv.port))
            .expect("url")
            .with_secret("wrong-pa55")
            .expect("password"),
        Endpoint::parse(&url).expect("url"),
    ];
    for ep in refused {
        let err = match Bus::connect(&ep, &opts) {
            Ok(_) => panic!("{ep:?} was let in"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&url), "{err}");
        for secret in [stranger.as_str(), "wrong-pa55", seed.as_str()] {
            assert!(!err.contains(secret), "{err}");
        }
    }
}

/// Operator mode: a `.creds` file (the user JWT its account signed, and the user's seed) logs in and publishes to
/// JetStream; credentials of an account the server does not know are refused by the server; a file whose JWT and
/// seed are of different users, an expired JWT, or an account's JWT are refused before any connection, saying
/// which; no message shows the seed.
#[test]
fn creds_file_logins() {
    let Some(op) = operator_server() else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", op.server.port);
    let opts = Options::default();
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let creds = Operator::creds(&op.account, &user, None);
    let bus = Bus::connect(
        &Endpoint::parse(&url)
            .expect("url")
            .with_creds(&creds)
            .expect("a good .creds file"),
        &opts,
    )
    .expect("a user the account issued");
    let (_stream, prefix) = temp_stream(&bus, "CREDS");
    let acked = bus
        .publish_all(&[msg(&prefix, "c1", "{}")])
        .expect("publish with a .creds file");
    assert_eq!(acked.len(), 1);
    // An hour left: still good.
    let later = chrono_now() + 3600;
    Endpoint::parse(&url)
        .expect("url")
        .with_creds(&Operator::creds(&op.account, &user, Some(later)))
        .expect("not expired yet");

    // Issued by an account the server was not given: the server refuses.
    let foreign = nkeys::KeyPair::new_account();
    let stranger = nkeys::KeyPair::new_user();
    let ep = Endpoint::parse(&url)
        .expect("url")
        .with_creds(&Operator::creds(&foreign, &stranger, None))
        .expect("well-formed");
    let err = match Bus::connect(&ep, &opts) {
        Ok(_) => panic!("a user of an unknown account was let in"),
        Err(e) => e.to_string(),
    };
    eprintln!("refused by the server, as it should be: {err}");
    assert!(err.contains(&url), "{err}");
    assert!(!err.contains(&stranger.seed().expect("seed")), "{err}");

    // Refused before connecting, each saying why.
    let other = nkeys::KeyPair::new_user();
    let mixed =
        Operator::creds(&op.account, &other, None).replace(&other.seed().expect("seed"), &seed);
    let expired = Operator::creds(&op.account, &user, Some(chrono_now() - 60));
    let account_jwt = jwt(
        &op.account,
        &user.public_key(),
        "not a user",
        serde_json::json!({"type": "account", "version": 2}),
        None,
    );
    let as_account = creds.replace(creds.lines().nth(1).expect("the JWT line"), &account_jwt);
    for (text, why) in [
        (mixed.as_str(), "different users"),
        (expired.as_str(), "expired at"),
        (as_account.as_str(), "not a user's"),
        ("", "no user JWT"),
        (
            creds.lines().take(3).collect::<Vec<_>>().join("\n").leak() as &str,
            "no user seed",
        ),
    ] {
        let e = match Endpoint::parse(&url).expect("url").with_creds(text) {
            Ok(_) => panic!("accepted: {why}"),
            Err(e) => e.to_string(),
        };
        eprintln!("refused before connecting, as it should be: {e}");
        assert!(e.contains(why), "{why}: {e}");
        assert!(!e.contains(&seed), "{e}");
    }
    // Never two kinds of credentials at once.
    let e = match Endpoint::parse(&format!("nats://sensor:pw@127.0.0.1:{}", op.server.port))
        .expect("url")
        .with_creds(&creds)
    {
        Ok(_) => panic!("a password and a .creds file"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("use one of them"), "{e}");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Publishes one message, retrying for up to `within` while the client reconnects; the last error if none went.
fn publish_within(bus: &Bus, prefix: &str, id: &str, within: Duration) -> Result<(), String> {
    let start = std::time::Instant::now();
    loop {
        match bus.publish_all(&[msg(prefix, id, "{}")]) {
            Ok(acked) if acked.len() == 1 => return Ok(()),
            Ok(acked) => return Err(format!("{} acknowledgements", acked.len())),
            Err(e) if start.elapsed() >= within => return Err(e.to_string()),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The server drops a user at its JWT's expiry; a client reading its .creds file again logs in with the renewed
/// file written over the old one, while one holding the first file's credentials stays out.
#[test]
fn renewed_creds_files_are_read_again_at_reconnection() {
    let Some(op) = operator_server() else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", op.server.port);
    let opts = Options::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let short = Operator::creds(&op.account, &user, Some(chrono_now() + 4));
    let file = dir.path().join("sensor.creds");
    std::fs::write(&file, &short).expect("write");
    let rereading = Bus::connect(
        &Endpoint::parse(&url)
            .expect("url")
            .with_creds(&short)
            .expect("good for a few seconds")
            .reread_from(file.clone()),
        &opts,
    )
    .expect("connect");
    let holding = Bus::connect(
        &Endpoint::parse(&url)
            .expect("url")
            .with_creds(&short)
            .expect("good for a few seconds"),
        &opts,
    )
    .expect("connect");
    let (_stream, prefix) = temp_stream(&rereading, "RENEW");
    publish_within(&rereading, &prefix, "before", Duration::ZERO).expect("publish before");

    // Renewed in place (first a damaged write, passed over for the last good file), then the old JWT expires.
    std::fs::write(&file, "-----BEGIN NATS USER JWT-----\ntruncated").expect("write");
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(
        &file,
        Operator::creds(&op.account, &user, Some(chrono_now() + 3600)),
    )
    .expect("write");
    std::thread::sleep(Duration::from_secs(6));
    publish_within(&rereading, &prefix, "after", Duration::from_secs(15))
        .expect("the renewed file was not used after the server dropped the expired login");
    let err = publish_within(&holding, &prefix, "held", Duration::from_secs(3))
        .expect_err("a client holding the expired JWT kept publishing: the server did not drop it");
    assert!(!err.contains(&seed), "{err}");
}
