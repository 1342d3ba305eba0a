//! The closed sets of values that query and path parameters take, for the OpenAPI document only: handlers keep
//! parsing strings (so that a wrong value gets Vigil's own 400 naming the parameter), and these types give client
//! generators and schema-driven testers the exact set instead of "a string".

use utoipa::ToSchema;

/// A TLP 2.0 level.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum TlpLevel {
    #[schema(rename = "clear")]
    Clear,
    #[schema(rename = "green")]
    Green,
    #[schema(rename = "amber")]
    Amber,
    #[schema(rename = "amber+strict")]
    AmberStrict,
    #[schema(rename = "red")]
    Red,
}

/// What `POST /api/v1/ingest` reads the body as (`auto`: detected from the content).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum IngestFormat {
    #[schema(rename = "auto")]
    Auto,
    #[schema(rename = "stix")]
    Stix,
    #[schema(rename = "misp")]
    Misp,
    #[schema(rename = "misp-feed")]
    MispFeed,
    #[schema(rename = "galaxy")]
    Galaxy,
    #[schema(rename = "warninglist")]
    Warninglist,
    #[schema(rename = "iocs")]
    Iocs,
}

/// The kinds of public body a member is.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum MemberKind {
    #[schema(rename = "csirt")]
    Csirt,
    #[schema(rename = "ministry")]
    Ministry,
    #[schema(rename = "agency")]
    Agency,
    #[schema(rename = "regulator")]
    Regulator,
}

/// How a notice is rendered.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum NoticeFormat {
    #[schema(rename = "json")]
    Json,
    #[schema(rename = "md")]
    Md,
    #[schema(rename = "html")]
    Html,
    #[schema(rename = "csaf")]
    Csaf,
}

/// Where a notice stands.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum NoticeStatus {
    #[schema(rename = "new")]
    New,
    #[schema(rename = "acknowledged")]
    Acknowledged,
    #[schema(rename = "resolved")]
    Resolved,
}

/// What a member does with a notice.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum NoticeAction {
    #[schema(rename = "acknowledge")]
    Acknowledge,
    #[schema(rename = "resolve")]
    Resolve,
    #[schema(rename = "reopen")]
    Reopen,
}
