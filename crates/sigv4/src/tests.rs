#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use trent_crypto::{hex, sha256, unhex};

use crate::canonical::{canonical_query, canonical_uri};
use crate::*;

// ---------------------------------------------------------------------------------------------
// The AWS SigV4 test suite (2015 edition), cases that apply to non-S3 services.
// ---------------------------------------------------------------------------------------------

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const AMZ_DATE: &str = "20150830T123600Z";
const SCOPE: &str = "20150830/us-east-1/service/aws4_request";
const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
const DATE: (&str, &str) = ("X-Amz-Date", AMZ_DATE);
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

struct Vector {
    name: &'static str,
    method: &'static str,
    /// Path and query as they appear on the request line.
    path: &'static str,
    query: &'static str,
    /// Headers as received, including `X-Amz-Date`.
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    signed_headers: &'static str,
    /// Expected canonical request, where the suite publishes it.
    creq: Option<&'static str>,
    /// The last line of the expected string to sign (hex SHA-256 of the canonical request).
    creq_hash: Option<&'static str>,
    signature: &'static str,
    /// Whether `Signer::sign` given the same request reproduces the header exactly.
    signer_reproduces: bool,
}

/// Defaults: `GET /` with only `Host` and `X-Amz-Date`, both signed, empty body.
const BASE: Vector = Vector {
    name: "",
    method: "GET",
    path: "/",
    query: "",
    headers: &[HOST, DATE],
    body: "",
    signed_headers: "host;x-amz-date",
    creq: None,
    creq_hash: None,
    signature: "",
    signer_reproduces: true,
};

const MY_HEADER1_SIGNED: &str = "host;my-header1;x-amz-date";

/// Canonical request of a bare request with only `Host` and `X-Amz-Date`.
macro_rules! bare_creq {
    ($method:literal, $uri:literal, $query:literal) => {
        Some(concat!(
            $method,
            "\n",
            $uri,
            "\n",
            $query,
            "\n",
            "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ))
    };
}

/// Canonical request of a bare request with one extra `my-header1` line.
macro_rules! my_header1_creq {
    ($method:literal, $value:literal) => {
        Some(concat!(
            $method,
            "\n/\n\nhost:example.amazonaws.com\nmy-header1:",
            $value,
            "\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ))
    };
}

#[rustfmt::skip]
fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "get-vanilla",
            creq: bare_creq!("GET", "/", ""),
            creq_hash: Some("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ..BASE
        },
        Vector {
            name: "get-vanilla-query",
            creq: bare_creq!("GET", "/", ""),
            creq_hash: Some("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ..BASE
        },
        Vector {
            name: "get-vanilla-empty-query-key",
            query: "Param1=value1",
            creq: bare_creq!("GET", "/", "Param1=value1"),
            creq_hash: Some("1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab"),
            signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
            ..BASE
        },
        Vector {
            name: "get-vanilla-query-order-key",
            query: "Param1=value2&Param1=Value1",
            creq: bare_creq!("GET", "/", "Param1=Value1&Param1=value2"),
            creq_hash: Some("704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89"),
            signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
            ..BASE
        },
        Vector {
            name: "get-vanilla-query-order-key-case",
            query: "Param2=value2&Param1=value1",
            creq: bare_creq!("GET", "/", "Param1=value1&Param2=value2"),
            creq_hash: Some("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"),
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ..BASE
        },
        Vector {
            name: "get-vanilla-query-order-value",
            query: "Param1=value2&Param1=value1",
            creq: bare_creq!("GET", "/", "Param1=value1&Param1=value2"),
            creq_hash: Some("c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606"),
            signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
            ..BASE
        },
        Vector {
            name: "get-vanilla-query-unreserved",
            query: "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            creq: bare_creq!("GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
            creq_hash: Some("c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177"),
            signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
            ..BASE
        },
        Vector {
            name: "get-vanilla-utf8-query",
            query: "\u{1234}=bar",
            creq: bare_creq!("GET", "/", "%E1%88%B4=bar"),
            creq_hash: Some("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"),
            signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            ..BASE
        },
        Vector {
            name: "get-header-key-duplicate",
            headers: &[HOST, ("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1"), DATE],
            signed_headers: MY_HEADER1_SIGNED,
            creq: my_header1_creq!("GET", "value2,value2,value1"),
            creq_hash: Some("dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c"),
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            ..BASE
        },
        // The suite's multi-line (obs-fold) header, as an HTTP library hands it over: one value
        // per line, which canonicalises like repeated headers.
        Vector {
            name: "get-header-value-multiline",
            headers: &[HOST, ("My-Header1", "value1"), ("My-Header1", "value2"), ("My-Header1", "value3"), DATE],
            signed_headers: MY_HEADER1_SIGNED,
            creq: my_header1_creq!("GET", "value1,value2,value3"),
            signature: "ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790",
            ..BASE
        },
        Vector {
            name: "get-header-value-order",
            headers: &[HOST, ("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"), ("My-Header1", "value2"), DATE],
            signed_headers: MY_HEADER1_SIGNED,
            creq: my_header1_creq!("GET", "value4,value1,value3,value2"),
            creq_hash: Some("31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86"),
            signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
            ..BASE
        },
        Vector {
            name: "get-header-value-trim",
            headers: &[HOST, ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\""), DATE],
            signed_headers: "host;my-header1;my-header2;x-amz-date",
            creq: Some("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            creq_hash: Some("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            ..BASE
        },
        Vector {
            name: "get-relative",
            path: "/example/..",
            creq: bare_creq!("GET", "/", ""),
            creq_hash: Some("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ..BASE
        },
        Vector {
            name: "get-relative-relative",
            path: "/example1/example2/../..",
            creq: bare_creq!("GET", "/", ""),
            creq_hash: Some("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ..BASE
        },
        Vector {
            name: "get-slash",
            path: "//",
            creq: bare_creq!("GET", "/", ""),
            creq_hash: Some("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ..BASE
        },
        Vector {
            name: "get-slash-dot-slash",
            path: "/./",
            creq: bare_creq!("GET", "/", ""),
            creq_hash: Some("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ..BASE
        },
        Vector {
            name: "get-slash-pointless-dot",
            path: "/./example",
            creq: bare_creq!("GET", "/example", ""),
            creq_hash: Some("214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702"),
            signature: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
            ..BASE
        },
        Vector {
            name: "get-slashes",
            path: "//example//",
            creq: bare_creq!("GET", "/example/", ""),
            creq_hash: Some("cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015"),
            signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
            ..BASE
        },
        Vector {
            name: "get-space",
            path: "/example space/",
            creq: bare_creq!("GET", "/example%20space/", ""),
            creq_hash: Some("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"),
            signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
            ..BASE
        },
        Vector {
            name: "get-unreserved",
            path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            creq: bare_creq!("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", ""),
            creq_hash: Some("6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9"),
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
            ..BASE
        },
        Vector {
            name: "get-utf8",
            path: "/\u{1234}",
            creq: bare_creq!("GET", "/%E1%88%B4", ""),
            creq_hash: Some("2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"),
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ..BASE
        },
        Vector {
            name: "post-header-key-case",
            method: "POST",
            creq: bare_creq!("POST", "/", ""),
            creq_hash: Some("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ..BASE
        },
        Vector {
            name: "post-header-key-sort",
            method: "POST",
            headers: &[HOST, ("My-Header1", "value1"), DATE],
            signed_headers: MY_HEADER1_SIGNED,
            creq: my_header1_creq!("POST", "value1"),
            creq_hash: Some("9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65"),
            signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            ..BASE
        },
        Vector {
            name: "post-header-value-case",
            method: "POST",
            headers: &[HOST, ("My-Header1", "VALUE1"), DATE],
            signed_headers: MY_HEADER1_SIGNED,
            creq: my_header1_creq!("POST", "VALUE1"),
            creq_hash: Some("d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93"),
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
            ..BASE
        },
        Vector {
            name: "post-sts-header-before",
            method: "POST",
            headers: &[HOST, DATE, ("X-Amz-Security-Token", STS_TOKEN)],
            signed_headers: "host;x-amz-date;x-amz-security-token",
            creq_hash: Some("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"),
            signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
            ..BASE
        },
        // The token header was added after signing: it is not signed and must not matter.
        Vector {
            name: "post-sts-header-after",
            method: "POST",
            headers: &[HOST, DATE, ("X-Amz-Security-Token", STS_TOKEN)],
            creq: bare_creq!("POST", "/", ""),
            creq_hash: Some("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            signer_reproduces: false,
            ..BASE
        },
        Vector {
            name: "post-vanilla",
            method: "POST",
            creq: bare_creq!("POST", "/", ""),
            creq_hash: Some("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ..BASE
        },
        Vector {
            name: "post-vanilla-empty-query-value",
            method: "POST",
            query: "Param1=value1",
            creq: bare_creq!("POST", "/", "Param1=value1"),
            creq_hash: Some("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"),
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            ..BASE
        },
        Vector {
            name: "post-vanilla-query",
            method: "POST",
            query: "Param1=value1",
            creq: bare_creq!("POST", "/", "Param1=value1"),
            creq_hash: Some("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"),
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            ..BASE
        },
        Vector {
            name: "post-x-www-form-urlencoded",
            method: "POST",
            headers: &[("Content-Type", "application/x-www-form-urlencoded"), HOST, DATE],
            body: "Param1=value1",
            signed_headers: "content-type;host;x-amz-date",
            creq: Some("POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
            creq_hash: Some("42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"),
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            ..BASE
        },
        Vector {
            name: "post-x-www-form-urlencoded-parameters",
            method: "POST",
            headers: &[("Content-Type", "application/x-www-form-urlencoded; charset=utf8"), HOST, DATE],
            body: "Param1=value1",
            signed_headers: "content-type;host;x-amz-date",
            creq: Some("POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
            creq_hash: Some("2e1cf7ed91881a30569e46552437e4156c823447bf1781b921b5d486c568dd1c"),
            signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
            ..BASE
        },
    ]
}

#[test]
fn signing_keys_zeroize_on_drop() {
    fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
    zeroized_on_drop(&signing_key(SECRET.as_bytes(), "20150830", REGION, SERVICE));
}

fn suite_key() -> [u8; 32] {
    *signing_key(SECRET.as_bytes(), "20150830", REGION, SERVICE)
}

fn suite_time() -> OffsetDateTime {
    datetime!(2015-08-30 12:36:00 UTC)
}

fn request_of(vector: &Vector) -> Request<'static> {
    Request {
        method: vector.method,
        path: vector.path,
        query: vector.query,
        headers: vector.headers,
        payload_sha256: sha256(vector.body.as_bytes()),
    }
}

fn authorization_of(vector: &Vector) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders={}, Signature={}",
        vector.signed_headers, vector.signature
    )
}

#[test]
fn suite_canonical_requests() {
    for vector in vectors() {
        let signed: Vec<&str> = vector.signed_headers.split(';').collect();
        let creq = canonical_request(&request_of(&vector), &signed).unwrap();
        if let Some(expected) = vector.creq {
            assert_eq!(creq, expected, "{}", vector.name);
        }
        if let Some(hash) = vector.creq_hash {
            assert_eq!(hex(&sha256(creq.as_bytes())), hash, "{}", vector.name);
        }
    }
}

#[test]
fn suite_strings_to_sign_and_signatures() {
    let key = suite_key();
    for vector in vectors() {
        let signed: Vec<&str> = vector.signed_headers.split(';').collect();
        let creq = canonical_request(&request_of(&vector), &signed).unwrap();
        let sts = string_to_sign(AMZ_DATE, SCOPE, &creq);
        if let Some(hash) = vector.creq_hash {
            assert_eq!(
                sts,
                format!("AWS4-HMAC-SHA256\n{AMZ_DATE}\n{SCOPE}\n{hash}"),
                "{}",
                vector.name
            );
        }
        assert_eq!(
            hex(&signature(&key, &sts)),
            vector.signature,
            "{}",
            vector.name
        );
    }
}

#[test]
fn suite_authorization_headers_verify() {
    let key = suite_key();
    for vector in vectors() {
        let header = authorization_of(&vector);
        let auth = parse_authorization(&header).unwrap();
        assert_eq!(auth.access_key_id, AKID);
        assert_eq!(auth.scope(), SCOPE);
        auth.check_scope(REGION, SERVICE).unwrap();
        verify(&key, &auth, &request_of(&vector), AMZ_DATE)
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
    }
}

#[test]
fn suite_signer_reproduces_authorization_headers() {
    for vector in vectors().iter().filter(|v| v.signer_reproduces) {
        let token = vector
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"))
            .map(|(_, v)| *v);
        let signer = Signer {
            access_key_id: AKID,
            secret_access_key: SECRET,
            region: REGION,
            service: SERVICE,
            session_token: token,
        };
        let headers: Vec<(&str, &str)> = vector
            .headers
            .iter()
            .copied()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("x-amz-date")
                    && !n.eq_ignore_ascii_case("x-amz-security-token")
            })
            .collect();
        let added = signer.sign(
            vector.method,
            vector.path,
            vector.query,
            &headers,
            vector.body.as_bytes(),
            suite_time(),
        );
        let mut expected = vec![("x-amz-date".to_owned(), AMZ_DATE.to_owned())];
        if let Some(token) = token {
            expected.push(("x-amz-security-token".to_owned(), token.to_owned()));
        }
        expected.push(("authorization".to_owned(), authorization_of(vector)));
        assert_eq!(added, expected, "{}", vector.name);
    }
}

// ---------------------------------------------------------------------------------------------
// The IAM ListUsers example from the AWS General Reference.
// ---------------------------------------------------------------------------------------------

#[test]
fn iam_list_users_example() {
    let headers = [
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("X-Amz-Date", AMZ_DATE),
        ("Host", "iam.amazonaws.com"),
    ];
    let req = Request {
        method: "GET",
        path: "/",
        query: "Action=ListUsers&Version=2010-05-08",
        headers: &headers,
        payload_sha256: sha256(b""),
    };
    let creq = canonical_request(&req, &["content-type", "host", "x-amz-date"]).unwrap();
    assert_eq!(
        creq,
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
         content-type:application/x-www-form-urlencoded; charset=utf-8\n\
         host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
         content-type;host;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let scope = "20150830/us-east-1/iam/aws4_request";
    let sts = string_to_sign(AMZ_DATE, scope, &creq);
    assert_eq!(
        sts,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
         f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    let key = signing_key(SECRET.as_bytes(), "20150830", "us-east-1", "iam");
    assert_eq!(
        hex(&*key),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
    let sig = signature(&key, &sts);
    assert_eq!(
        hex(&sig),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );

    let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                  SignedHeaders=content-type;host;x-amz-date, \
                  Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    let auth = parse_authorization(header).unwrap();
    assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
    assert_eq!(auth.signature, sig);
    verify(&key, &auth, &req, AMZ_DATE).unwrap();

    let signer = Signer {
        access_key_id: AKID,
        secret_access_key: SECRET,
        region: "us-east-1",
        service: "iam",
        session_token: None,
    };
    let added = signer.sign(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        &[headers[0], headers[2]],
        b"",
        suite_time(),
    );
    assert_eq!(added[1].1, header);
}

// ---------------------------------------------------------------------------------------------
// Round trips and tampering.
// ---------------------------------------------------------------------------------------------

struct Signed {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

const KMS_NOW: OffsetDateTime = datetime!(2024-05-06 07:08:09.5 UTC);

fn kms_signer(token: Option<&str>) -> Signer<'_> {
    Signer {
        access_key_id: "AKIATRENTEXAMPLE",
        secret_access_key: "trent-secret",
        region: "eu-west-1",
        service: "kms",
        session_token: token,
    }
}

fn signed_kms_request(token: Option<&str>) -> Signed {
    let body = br#"{"KeyId":"alias/test","Plaintext":"aGVsbG8="}"#.to_vec();
    let given = [
        ("Host", "kms.eu-west-1.amazonaws.com"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", "TrentService.Encrypt"),
    ];
    let added = kms_signer(token).sign("POST", "/", "", &given, &body, KMS_NOW);
    let mut headers: Vec<(String, String)> = given
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    headers.extend(added);
    // Something unsigned, as proxies add.
    headers.push(("User-Agent".to_owned(), "load-generator".to_owned()));
    Signed { headers, body }
}

/// The server side, as `trent-server` would run it.
fn server_verify(signed: &Signed) -> Result<(), Error> {
    server_verify_at(signed, KMS_NOW)
}

fn server_verify_at(signed: &Signed, now: OffsetDateTime) -> Result<(), Error> {
    let header = |name: &str| {
        signed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let auth = parse_authorization(header("authorization").unwrap())?;
    let amz_date = header("x-amz-date").ok_or_else(Error::missing_amz_date)?;
    check_skew(parse_amz_date(amz_date)?, now, Duration::minutes(15))?;
    auth.check_scope("eu-west-1", "kms")?;
    let key = signing_key(b"trent-secret", auth.date, auth.region, auth.service);
    let headers: Vec<(&str, &str)> = signed
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload_sha256: sha256(&signed.body),
    };
    verify(&key, &auth, &req, amz_date)
}

fn set_header(signed: &mut Signed, name: &str, value: &str) {
    for (n, v) in &mut signed.headers {
        if n.eq_ignore_ascii_case(name) {
            *v = value.to_owned();
        }
    }
}

#[test]
fn round_trip_verifies() {
    let signed = signed_kms_request(None);
    server_verify(&signed).unwrap();
    let auth = signed
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap();
    assert!(auth.1.starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIATRENTEXAMPLE/20240506/eu-west-1/kms/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
    ));
    assert!(
        signed
            .headers
            .contains(&("x-amz-date".to_owned(), "20240506T070809Z".to_owned()))
    );
}

#[test]
fn round_trip_with_session_token_verifies() {
    let signed = signed_kms_request(Some("session-token"));
    server_verify(&signed).unwrap();
    let auth = signed
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap();
    assert!(
        auth.1.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        )
    );

    let mut tampered = signed_kms_request(Some("session-token"));
    set_header(&mut tampered, "x-amz-security-token", "other-token");
    assert_eq!(server_verify(&tampered), Err(Error::SignatureMismatch));
}

#[test]
fn tampered_body_fails() {
    let mut signed = signed_kms_request(None);
    signed.body[10] ^= 1;
    assert_eq!(server_verify(&signed), Err(Error::SignatureMismatch));
}

#[test]
fn tampered_signed_header_fails() {
    let mut signed = signed_kms_request(None);
    set_header(&mut signed, "x-amz-target", "TrentService.Decrypt");
    assert_eq!(server_verify(&signed), Err(Error::SignatureMismatch));

    let mut signed = signed_kms_request(None);
    set_header(&mut signed, "host", "evil.example");
    assert_eq!(server_verify(&signed), Err(Error::SignatureMismatch));

    // Unsigned headers may change freely.
    let mut signed = signed_kms_request(None);
    set_header(&mut signed, "user-agent", "something else");
    server_verify(&signed).unwrap();
}

#[test]
fn removed_signed_header_fails() {
    let mut signed = signed_kms_request(None);
    signed
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-target"));
    let err = server_verify(&signed).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert_eq!(err.aws_error_code(), "InvalidSignatureException");
}

#[test]
fn tampered_date_fails() {
    // Same day: the string to sign changes.
    let mut signed = signed_kms_request(None);
    set_header(&mut signed, "x-amz-date", "20240506T070810Z");
    assert_eq!(server_verify(&signed), Err(Error::SignatureMismatch));

    // Another day (within the allowed skew of the server's clock): rejected before the
    // signature is even computed, as the key is only valid for its own day.
    let mut signed = signed_kms_request(None);
    set_header(&mut signed, "x-amz-date", "20240505T235959Z");
    let err = server_verify_at(&signed, datetime!(2024-05-06 00:00:00 UTC)).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert_eq!(
        err.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
         '20240506' != '20240505', from '20240505T235959Z'."
    );

    let mut signed = signed_kms_request(None);
    set_header(&mut signed, "x-amz-date", "2024-05-06T07:08:09Z");
    assert!(matches!(server_verify(&signed), Err(Error::InvalidDate(_))));
}

#[test]
fn tampered_signature_digit_fails() {
    let original = signed_kms_request(None);
    let auth = original
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1
        .clone();
    let sig_start = auth.find("Signature=").unwrap() + "Signature=".len();
    for i in sig_start..auth.len() {
        let mut bytes = auth.clone().into_bytes();
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        let mut signed = signed_kms_request(None);
        set_header(
            &mut signed,
            "authorization",
            std::str::from_utf8(&bytes).unwrap(),
        );
        assert_eq!(
            server_verify(&signed),
            Err(Error::SignatureMismatch),
            "digit {i}"
        );
    }
}

#[test]
fn wrong_secret_and_scope_fail() {
    let signed = signed_kms_request(None);
    let auth_header = &signed
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1;
    let auth = parse_authorization(auth_header).unwrap();
    let headers: Vec<(&str, &str)> = signed
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload_sha256: sha256(&signed.body),
    };
    let key = signing_key(b"not-the-secret", auth.date, auth.region, auth.service);
    assert_eq!(
        verify(&key, &auth, &req, "20240506T070809Z"),
        Err(Error::SignatureMismatch)
    );

    let key = signing_key(b"trent-secret", auth.date, "us-east-1", auth.service);
    assert_eq!(
        verify(&key, &auth, &req, "20240506T070809Z"),
        Err(Error::SignatureMismatch)
    );

    assert_eq!(
        auth.check_scope("us-east-1", "sts").unwrap_err().message(),
        "Credential should be scoped to a valid region, not 'eu-west-1'. \
         Credential should be scoped to correct service: 'sts'."
    );
    assert_eq!(
        auth.check_scope("eu-west-1", "sts").unwrap_err().message(),
        "Credential should be scoped to correct service: 'sts'."
    );
}

#[test]
fn signed_requests_with_paths_and_queries_round_trip() {
    let signer = kms_signer(None);
    let cases = [
        ("/", "a=1&b=2"),
        ("/foo%20bar/baz", "z=%2F&a=b+c"),
        ("/a/./b/../c//", "X-Amz-Signature=ignored&k"),
        ("/%E1%88%B4", "%E1%88%B4=%e1%88%b4"),
        ("", ""),
    ];
    for (path, query) in cases {
        let given = [("host", "h.example")];
        let added = signer.sign("GET", path, query, &given, b"", KMS_NOW);
        let mut headers: Vec<(&str, &str)> = given.to_vec();
        headers.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let auth = parse_authorization(&added[1].1).unwrap();
        let key = signing_key(b"trent-secret", auth.date, auth.region, auth.service);
        let req = Request {
            method: "GET",
            path,
            query,
            headers: &headers,
            payload_sha256: sha256(b""),
        };
        verify(&key, &auth, &req, &added[0].1).unwrap_or_else(|e| panic!("{path}?{query}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Canonicalisation details.
// ---------------------------------------------------------------------------------------------

#[test]
fn canonical_uri_normalises_and_double_encodes() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/a/b/../c"), "/a/c");
    assert_eq!(canonical_uri("/a/b/.."), "/a");
    assert_eq!(canonical_uri("/a/b/../"), "/a/");
    assert_eq!(canonical_uri("/../../a"), "/a");
    assert_eq!(canonical_uri("a/b"), "/a/b");
    // The path as on the wire is encoded again: `%` becomes `%25`.
    assert_eq!(canonical_uri("/example%20space/"), "/example%2520space/");
    assert_eq!(canonical_uri("/a:b@c+d=e"), "/a%3Ab%40c%2Bd%3De");
    assert_eq!(canonical_uri("/\u{e9}"), "/%C3%A9");
}

#[test]
fn canonical_query_rules() {
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("&&"), "");
    assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(canonical_query("flag"), "flag=");
    assert_eq!(canonical_query("a=b=c"), "a=b%3Dc");
    assert_eq!(canonical_query("q=a+b%20c"), "q=a%20b%20c");
    assert_eq!(canonical_query("q=%2B%2f%7E"), "q=%2B%2F~");
    assert_eq!(canonical_query("bad=%zz%4"), "bad=%25zz%254");
    assert_eq!(canonical_query("x=%FF"), "x=%FF");
    assert_eq!(
        canonical_query("X-Amz-Signature=abc&X-Amz-Date=1&x-amz-signature=kept"),
        "X-Amz-Date=1&x-amz-signature=kept"
    );
    // Sorting is by encoded name, byte-wise (upper case before lower case).
    assert_eq!(canonical_query("b=1&B=2&_=3"), "B=2&_=3&b=1");
}

#[test]
fn header_values_are_trimmed_collapsed_and_joined() {
    let headers = [
        ("host", "h"),
        ("X-Multi", "  a \t b  "),
        ("x-multi", ""),
        ("X-MULTI", "c"),
        ("x-empty", "   "),
    ];
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload_sha256: sha256(b""),
    };
    let creq = canonical_request(&req, &["host", "x-empty", "x-multi"]).unwrap();
    assert!(
        creq.contains("\nhost:h\nx-empty:\nx-multi:a b,,c\n\nhost;x-empty;x-multi\n"),
        "{creq}"
    );
}

#[test]
fn missing_signed_header_is_an_error() {
    let headers = [("host", "h")];
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload_sha256: sha256(b""),
    };
    let err = canonical_request(&req, &["host", "x-amz-date"]).unwrap_err();
    assert_eq!(
        err,
        Error::Invalid(
            "Header 'x-amz-date' is listed in SignedHeaders but is not present in the request."
                .to_owned()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization header parsing.
// ---------------------------------------------------------------------------------------------

const GOOD_SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

fn good_header() -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={GOOD_SIG}"
    )
}

#[test]
fn parses_a_good_header() {
    let header = good_header();
    let auth = parse_authorization(&header).unwrap();
    assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
    assert_eq!(auth.date, "20150830");
    assert_eq!(auth.region, "us-east-1");
    assert_eq!(auth.service, "service");
    assert_eq!(auth.signed_headers, ["host", "x-amz-date"]);
    assert_eq!(auth.signature.to_vec(), unhex(GOOD_SIG).unwrap());
}

#[test]
fn tolerates_spacing_order_and_unknown_components() {
    let good = good_header();
    let expected = parse_authorization(&good).unwrap();
    let variants = [
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,SignedHeaders=host;x-amz-date,Signature={GOOD_SIG}"
        ),
        format!(
            "  AWS4-HMAC-SHA256   Signature={GOOD_SIG} ,  SignedHeaders=host;x-amz-date ,Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request  "
        ),
        format!(
            "AWS4-HMAC-SHA256\tCredential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request SignedHeaders=host;x-amz-date Signature={GOOD_SIG},"
        ),
        format!(
            "AWS4-HMAC-SHA256 Foo=Bar, Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            GOOD_SIG.to_uppercase()
        ),
    ];
    for header in &variants {
        assert_eq!(parse_authorization(header).unwrap(), expected, "{header}");
    }
}

#[test]
fn malformed_headers_give_the_right_error() {
    enum Kind {
        Incomplete,
        Invalid,
    }
    use Kind::*;
    let cred = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    let sh = "SignedHeaders=host;x-amz-date";
    let sig = format!("Signature={GOOD_SIG}");
    let cases: Vec<(String, Kind, &str)> = vec![
        ("".into(), Incomplete, "Unsupported AWS 'algorithm': ''."),
        (
            format!("AWS4-HMAC-SHA512 {cred}, {sh}, {sig}"),
            Incomplete,
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.",
        ),
        (
            format!("aws4-hmac-sha256 {cred}, {sh}, {sig}"),
            Incomplete,
            "Unsupported AWS 'algorithm': 'aws4-hmac-sha256'.",
        ),
        (
            format!("AWS4-HMAC-SHA256{cred}, {sh}, {sig}"),
            Incomplete,
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA256Credential=AKIDEXAMPLE/20150830/us-east-1/servic...'.",
        ),
        (
            "Bearer abc".into(),
            Incomplete,
            "Unsupported AWS 'algorithm': 'Bearer'.",
        ),
        (
            "AWS4-HMAC-SHA256".into(),
            Incomplete,
            "Authorization header requires 'Credential' parameter. \
             Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {sh}, {sig}"),
            Incomplete,
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, {sig}"),
            Incomplete,
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, {sh}"),
            Incomplete,
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature{GOOD_SIG}"),
            Incomplete,
            "Authorization header component is not a valid key=value pair (missing equal-sign).",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, {sh}, {sig}, {sig}"),
            Incomplete,
            "Authorization header has more than one 'Signature' parameter.",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, {sh}, {sig}"
            ),
            Incomplete,
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, {sh}, {sig}"
            ),
            Incomplete,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, \
             got 'AKIDEXAMPLE/20150830/us-east-1/service'",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x, {sh}, {sig}"
            ),
            Incomplete,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, \
             got 'AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x'",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request, {sh}, {sig}"
            ),
            Incomplete,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, \
             got '/20150830/us-east-1/service/aws4_request'",
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=, {sh}, {sig}"),
            Incomplete,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got ''",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/service/aws4_request, {sh}, {sig}"
            ),
            Incomplete,
            "Credential date must be a valid date in YYYYMMDD format, not '2015083'.",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20151330/us-east-1/service/aws4_request, {sh}, {sig}"
            ),
            Incomplete,
            "Credential date must be a valid date in YYYYMMDD format, not '20151330'.",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015-8-30/us-east-1/service/aws4_request, {sh}, {sig}"
            ),
            Incomplete,
            "Credential date must be a valid date in YYYYMMDD format, not '2015-8-30'.",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws5_request, {sh}, {sig}"
            ),
            Incomplete,
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=x-amz-date;host, {sig}"),
            Incomplete,
            "SignedHeaders must be a ';'-separated list of lower-case header names in sorted order.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=Host;x-amz-date, {sig}"),
            Incomplete,
            "SignedHeaders must be a ';'-separated list of lower-case header names in sorted order.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;host, {sig}"),
            Incomplete,
            "SignedHeaders must be a ';'-separated list of lower-case header names in sorted order.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;;x-amz-date, {sig}"),
            Incomplete,
            "SignedHeaders must be a ';'-separated list of lower-case header names in sorted order.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=, {sig}"),
            Incomplete,
            "SignedHeaders must be a ';'-separated list of lower-case header names in sorted order.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;x-amz-date, {sig}"),
            Invalid,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 {cred}, {sh}, Signature={}",
                &GOOD_SIG[..63]
            ),
            Incomplete,
            "Signature must be 64 hexadecimal characters.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature={GOOD_SIG}00"),
            Incomplete,
            "Signature must be 64 hexadecimal characters.",
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 {cred}, {sh}, Signature={}g",
                &GOOD_SIG[..63]
            ),
            Incomplete,
            "Signature must be 64 hexadecimal characters.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, {sh}, Signature="),
            Incomplete,
            "Signature must be 64 hexadecimal characters.",
        ),
    ];
    for (header, kind, message) in cases {
        let err = parse_authorization(&header).unwrap_err();
        match kind {
            Incomplete => {
                assert!(matches!(err, Error::Incomplete(_)), "{header}: {err:?}");
                assert_eq!(err.aws_error_code(), "IncompleteSignatureException");
            }
            Invalid => {
                assert!(matches!(err, Error::Invalid(_)), "{header}: {err:?}");
                assert_eq!(err.aws_error_code(), "InvalidSignatureException");
            }
        }
        assert_eq!(err.message(), message, "{header}");
        assert!(
            !err.message().contains(&GOOD_SIG[..16]),
            "{header}: message leaks the signature"
        );
    }
}

#[test]
fn error_messages_quote_attacker_text_briefly() {
    let long = "A".repeat(10_000);
    let err = parse_authorization(&long).unwrap_err();
    assert!(err.message().len() < 120, "{}", err.message());
    let err = parse_authorization("AWS4\u{0}\u{7f}\n").unwrap_err();
    assert_eq!(err.message(), "Unsupported AWS 'algorithm': 'AWS4??'.");
}

#[test]
fn debug_output_hides_secrets() {
    let header = good_header();
    let auth = parse_authorization(&header).unwrap();
    let shown = format!("{auth:?}");
    assert!(
        shown.contains("AKIDEXAMPLE") && shown.contains("<redacted>"),
        "{shown}"
    );
    assert!(!shown.contains("95"), "{shown}"); // no byte of the signature array either
    let shown = format!("{:?}", kms_signer(Some("tok3n")));
    assert!(
        !shown.contains("trent-secret") && !shown.contains("tok3n"),
        "{shown}"
    );
}

/// A tiny xorshift64* generator, so the robustness tests are deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn every_truncation_parses_without_panic() {
    let header = good_header();
    for end in 0..=header.len() {
        let _ = parse_authorization(&header[..end]);
        let _ = parse_authorization(&header[end..]);
        let _ = parse_amz_date(&AMZ_DATE[..end.min(AMZ_DATE.len())]);
    }
    // Only the full header parses; every strict prefix loses part of the signature.
    for end in 0..header.len() {
        assert!(parse_authorization(&header[..end]).is_err(), "{end}");
    }
}

#[test]
fn random_mutations_never_panic() {
    const ALPHABET: &[u8] = b"AWS4-HMAC-SHA256 Credential=/,;= SignedHeaders Signature \t\r\n%+.~0123456789abcdefABCDEF\x00\xff\xc3\xa9";
    let seeds = [
        good_header(),
        authorization_of(&vectors()[11]), /* get-header-value-trim */
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed_ok = 0;
    for i in 0..5_000 {
        let mut bytes = seeds[i % seeds.len()].clone().into_bytes();
        for _ in 0..1 + rng.below(4) {
            let pos = rng.below(bytes.len() + 1);
            let byte = if rng.below(2) == 0 {
                ALPHABET[rng.below(ALPHABET.len())]
            } else {
                rng.next() as u8
            };
            match rng.below(3) {
                0 if pos < bytes.len() => bytes[pos] = byte,
                1 if pos < bytes.len() => {
                    bytes.remove(pos);
                }
                _ => bytes.insert(pos, byte),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(auth) = parse_authorization(&text) {
            parsed_ok += 1;
            // Whatever parses must also be safe to verify against arbitrary requests.
            let headers = [("host", "h"), ("x-amz-date", AMZ_DATE)];
            let req = Request {
                method: "GET",
                path: &text,
                query: &text,
                headers: &headers,
                payload_sha256: [0; 32],
            };
            let _ = verify(&suite_key(), &auth, &req, AMZ_DATE);
        }
        let _ = parse_amz_date(&text);
        let _ = canonical_uri(&text);
        let _ = canonical_query(&text);
    }
    // The mutations must not be so destructive that nothing ever parses.
    assert!(parsed_ok > 50, "{parsed_ok}");
}

#[test]
fn random_requests_canonicalise_without_panic() {
    let mut rng = Rng(42);
    const PIECES: &[&str] = &[
        "/", ".", "..", "%", "%2", "%zz", "%E1", "a", "+", "=", "&", " ", "\u{1234}", "~", "?", "#",
    ];
    for _ in 0..2_000 {
        let mut s = String::new();
        for _ in 0..rng.below(12) {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
        let headers = [("host", s.as_str()), ("X-Amz-Date", s.as_str())];
        let req = Request {
            method: &s,
            path: &s,
            query: &s,
            headers: &headers,
            payload_sha256: [7; 32],
        };
        let creq = canonical_request(&req, &["host", "x-amz-date"]).unwrap();
        // The canonical URI and query contain only unreserved characters and escapes.
        let lines: Vec<&str> = creq.split('\n').collect();
        assert!(lines.len() >= 2);
        let uri = canonical_uri(&s);
        assert!(uri.starts_with('/'));
        assert!(
            uri.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%/".contains(&b)),
            "{uri}"
        );
        assert!(!uri.contains("//") || uri == "/");
        let query = canonical_query(&s);
        assert!(
            query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b)),
            "{query}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Dates and clock skew.
// ---------------------------------------------------------------------------------------------

#[test]
fn amz_dates_parse_and_format() {
    let t = parse_amz_date("20150830T123600Z").unwrap();
    assert_eq!(t, suite_time());
    assert_eq!(format_amz_date(t), "20150830T123600Z");
    assert_eq!(
        format_amz_date(datetime!(2024-02-29 23:59:59.999 +02:00)),
        "20240229T215959Z"
    );
    assert_eq!(
        parse_amz_date("20240229T000000Z").unwrap(),
        datetime!(2024-02-29 0:00 UTC)
    );
    for bad in [
        "",
        "20150830T123600",
        "20150830T123600z",
        "20150830 123600Z",
        "2015-08-30T12:36:00Z",
        "20150830T123600Z ",
        "20150830T243600Z",
        "20150830T126000Z",
        "20150830T123660Z",
        "20150230T123600Z",
        "20230229T000000Z",
        "2015083XT123600Z",
        "+2015083T123600Z",
        "20150830T12360\u{e9}",
    ] {
        let err = parse_amz_date(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidDate(_)), "{bad}");
        assert_eq!(err.aws_error_code(), "IncompleteSignatureException");
    }
    assert_eq!(
        parse_amz_date("2015-08-30").unwrap_err().message(),
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30'. See http://en.wikipedia.org/wiki/ISO_8601"
    );
    assert_eq!(
        Error::missing_amz_date().message(),
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    );
}

#[test]
fn skew_messages_match_aws() {
    let now = datetime!(2024-01-01 00:30:00 UTC);
    let max = Duration::minutes(15);

    let err = check_skew(datetime!(2024-01-01 00:00:00 UTC), now, max).unwrap_err();
    assert!(matches!(err, Error::SignatureExpired(_)));
    assert_eq!(err.aws_error_code(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"
    );

    let err = check_skew(datetime!(2024-01-01 01:00:00 UTC), now, max).unwrap_err();
    assert!(matches!(err, Error::SignatureNotYetCurrent(_)));
    assert_eq!(err.aws_error_code(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "Signature not yet current: 20240101T010000Z is still later than 20240101T004500Z (20240101T003000Z + 15 min.)"
    );
}

#[test]
fn skew_boundaries() {
    let now = datetime!(2024-01-01 00:30:00.999 UTC);
    let max = Duration::minutes(15);
    check_skew(datetime!(2024-01-01 00:15:00 UTC), now, max).unwrap();
    check_skew(datetime!(2024-01-01 00:45:00 UTC), now, max).unwrap();
    check_skew(datetime!(2024-01-01 00:30:00 UTC), now, max).unwrap();
    assert!(check_skew(datetime!(2024-01-01 00:14:59 UTC), now, max).is_err());
    assert!(check_skew(datetime!(2024-01-01 00:45:01 UTC), now, max).is_err());
    // Other offsets are compared as instants and reported in UTC.
    let err = check_skew(datetime!(2024-01-01 03:00:00 +02:00), now, max).unwrap_err();
    assert_eq!(
        err.message(),
        "Signature not yet current: 20240101T010000Z is still later than 20240101T004500Z (20240101T003000Z + 15 min.)"
    );
    // Extreme values do not overflow.
    check_skew(now, now, Duration::MAX).unwrap();
    let _ = check_skew(
        OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT),
        now,
        max,
    );
}

#[test]
fn error_codes() {
    assert_eq!(
        Error::SignatureMismatch.aws_error_code(),
        "InvalidSignatureException"
    );
    assert_eq!(
        Error::SignatureMismatch.message(),
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. \
         Consult the service documentation for details."
    );
    assert_eq!(
        Error::Incomplete("x".into()).aws_error_code(),
        "IncompleteSignatureException"
    );
}
