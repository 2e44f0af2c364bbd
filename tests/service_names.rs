//! The Service as people type it, in the test bed: `hostnames.default`, `kube-dns.kube-system`,
//! the full name, a trailing dot and `svc/NAME` all reach the healthy Service; a name that is
//! not a Service name is a usage error (exit 2), never a DNS verdict; a namespace in the name
//! that contradicts `-n` is one too. Each report says what it settled on and where each part
//! came from.

mod common;

use std::process::Output;

use common::bin;
use common::diagnose::{cause, check, report};
use common::schema::ServiceRef;
use common::testbed::{describe, Testbed, BACKENDS, CLIENT};
use serde_json::Value;

fn diagnose(bed: &Testbed, args: &[&str]) -> Value {
    report(&bed.exec(CLIENT, &[&[bin::svcprobe(), "diagnose"], args].concat()))
}

fn service_ref(doc: &Value) -> ServiceRef {
    serde_json::from_value(doc["service_ref"].clone())
        .unwrap_or_else(|e| panic!("service_ref ({e}): {doc:#}"))
}

fn settled(as_given: &str, service: &str, namespace: (&str, &str), domain: &str) -> ServiceRef {
    ServiceRef {
        as_given: as_given.into(),
        service: service.into(),
        namespace: namespace.0.into(),
        namespace_source: namespace.1.into(),
        cluster_domain: "cluster.local".into(),
        cluster_domain_source: domain.into(),
        fqdn: format!("{service}.{}.svc.cluster.local.", namespace.0),
    }
}

fn usage_error(out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", describe(out));
    assert!(out.stdout.is_empty(), "{}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(says), "{}", describe(out));
    assert!(stderr.contains("svcprobe diagnose --help"), "{stderr}");
}

#[test]
fn every_form_of_the_name_reaches_the_service_it_names() {
    let bed = Testbed::up();
    // The client pod is in `default`; its search list says so (no service account here).
    for (typed, by) in [
        ("hostnames.default", "name"),
        ("hostnames.default.svc.cluster.local", "name"),
        ("hostnames.default.svc.cluster.local.", "name"),
        ("hostnames.", "search-list"),
        ("svc/hostnames", "search-list"),
    ] {
        let doc = diagnose(&bed, &[typed]);
        assert_eq!(cause(&doc), "healthy", "{typed}: {doc:#}");
        let domain_by = if typed.ends_with("local") || typed.ends_with("local.") {
            "name"
        } else {
            "search-list"
        };
        assert_eq!(
            service_ref(&doc),
            settled(typed, "hostnames", ("default", by), domain_by),
            "{typed}"
        );
        assert_eq!(
            check(&doc, "dns-fqdn")["summary"],
            "hostnames.default.svc.cluster.local. -> 10.0.1.175",
            "{typed}"
        );
    }

    // The text view says the same in its first line.
    let out = bed.exec(
        CLIENT,
        &[
            bin::svcprobe(),
            "-o",
            "text",
            "diagnose",
            "hostnames.default",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let head: String = text.lines().take(2).collect::<Vec<_>>().join(" ");
    assert!(
        head.starts_with("diagnose hostnames.default.svc.cluster.local. port 80")
            && head.contains("namespace from name, domain from search-list"),
        "{text}"
    );

    // Another namespace: its DNS answers, and the short name rightly does not from here.
    let doc = diagnose(&bed, &["kube-dns.kube-system", "--port", "53"]);
    assert_eq!(
        service_ref(&doc),
        settled(
            "kube-dns.kube-system",
            "kube-dns",
            ("kube-system", "name"),
            "search-list"
        )
    );
    assert_eq!(check(&doc, "dns-fqdn")["status"], "pass", "{doc:#}");
    assert_eq!(check(&doc, "dns-namespaced")["status"], "pass", "{doc:#}");
    assert_eq!(cause(&doc), "healthy", "{doc:#}");

    // A Service that does not exist is not found: not a DNS failure.
    let doc = diagnose(&bed, &["web."]);
    assert_eq!(cause(&doc), "service-not-found", "{doc:#}");
    assert_eq!(service_ref(&doc).fqdn, "web.default.svc.cluster.local.");

    // -n agrees with the name, or is the namespace the name leaves out.
    let doc = diagnose(&bed, &["hostnames.default", "-n", "default"]);
    assert_eq!(cause(&doc), "healthy", "{doc:#}");
    let doc = diagnose(&bed, &["hostnames", "--namespace=default"]);
    assert_eq!(service_ref(&doc).namespace_source, "flag");

    // hairpin settles the same way, from a backend and from the client.
    let out = bed.exec(
        BACKENDS[1],
        &[bin::svcprobe(), "hairpin", "svc/hostnames", "--count", "3"],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("hairpin JSON");
    assert_eq!(
        serde_json::from_value::<ServiceRef>(doc["service_ref"].clone()).ok(),
        Some(settled(
            "svc/hostnames",
            "hostnames",
            ("default", "search-list"),
            "search-list"
        )),
        "{}",
        describe(&out)
    );
    assert_eq!(doc["service"], "10.0.1.175:80", "{}", describe(&out));

    // What is not a Service name is a usage error, never a DNS verdict.
    for (args, says) in [
        (&["a b"][..], "`a b` is not a valid Service name"),
        (&["my_svc"], "`my_svc` is not a valid Service name"),
        (&["hostnames.default.pod"], "is not a Service"),
        (
            &["hostnames.default", "-n", "kube-system"],
            "is in namespace default but -n says kube-system",
        ),
        (&["--port", "http", "hostnames"], "`http` is a port name"),
        (&["--bogus", "hostnames"], "unknown option `--bogus`"),
    ] {
        let out = bed.exec(CLIENT, &[&[bin::svcprobe(), "diagnose"], args].concat());
        usage_error(&out, says);
    }
    let out = bed.exec(CLIENT, &[bin::svcprobe(), "hairpin", "a b"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}
