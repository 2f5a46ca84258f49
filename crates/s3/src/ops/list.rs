//! Listings: ListObjects (v1 and v2) and ListObjectVersions (on an
//! unversioned bucket: every object is its own `null` version).

use std::fmt::Write as _;

use sluice_core::ListQuery;
use sluice_sigv4::uri_encode;

use crate::context::ThreadContext;
use crate::error::S3Error;
use crate::ops::OWNER_ID;
use crate::response::{xml_response, Response};
use crate::route::{Op, Route};
use crate::storage::Storage;
use crate::time::iso8601;
use crate::xml::Xml;

pub(crate) fn list_objects(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    r: &Route,
) -> Result<Response, S3Error> {
    let v2 = r.op == Op::ListObjectsV2;
    let max_keys = crate::params::max_count("max-keys", r.param("max-keys"), 1000, 1000)?;
    let url = r.param("encoding-type") == Some("url");
    let enc = |s: &str| {
        if url {
            sluice_sigv4::uri_encode(s, true)
        } else {
            s.to_owned()
        }
    };
    let token = r.param("continuation-token");
    let start_after = if v2 {
        match token {
            Some(t) => Some(crate::params::continuation_key(t)?),
            None => r.param("start-after").map(str::to_owned),
        }
    } else {
        r.param("marker").map(str::to_owned)
    };
    let prefix = r.param("prefix").unwrap_or_default().to_owned();
    let delimiter = r
        .param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let q = ListQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        start_after,
        max_keys,
        with_etag: true,
    };
    let page = if max_keys == 0 {
        ctx.store.head_bucket(bucket)?;
        sluice_core::ListPage::default()
    } else {
        ctx.store.list_objects(bucket, &q)?
    };
    // `encoding-type=url` encodes what botocore decodes
    // (botocore/handlers.py): for v1 (decode_list_object) Delimiter,
    // Marker, NextMarker, Contents/Key and CommonPrefixes/Prefix, not the
    // top-level Prefix; for v2 (decode_list_object_v2) Prefix and
    // StartAfter as well.
    let mut x = Xml::new();
    x.root("ListBucketResult").leaf("Name", bucket);
    if v2 {
        x.leaf("Prefix", &enc(&prefix));
    } else {
        x.leaf("Prefix", &prefix);
    }
    x.leaf("MaxKeys", &max_keys.to_string());
    if let Some(d) = &delimiter {
        x.leaf("Delimiter", &enc(d));
    }
    if url {
        x.leaf("EncodingType", "url");
    }
    x.leaf("IsTruncated", if page.truncated { "true" } else { "false" });
    if v2 {
        x.leaf(
            "KeyCount",
            &page
                .objects
                .len()
                .saturating_add(page.common_prefixes.len())
                .to_string(),
        );
        if let Some(t) = token {
            x.leaf("ContinuationToken", t);
        }
        if let Some(sa) = r.param("start-after") {
            x.leaf("StartAfter", &enc(sa));
        }
        if let Some(next) = &page.next_marker {
            x.leaf(
                "NextContinuationToken",
                &crate::params::continuation_token(next),
            );
        }
    } else {
        x.leaf("Marker", &enc(r.param("marker").unwrap_or_default()));
        if let Some(next) = &page.next_marker {
            x.leaf("NextMarker", &enc(next));
        }
    }
    let owner = !v2 || r.param("fetch-owner") == Some("true");
    for o in &page.objects {
        // The hot loop of a listing: text goes straight into the document.
        x.open("Contents");
        if url {
            x.leaf("Key", &enc(&o.key));
        } else {
            x.leaf("Key", &o.key);
        }
        x.open("LastModified");
        crate::time::iso8601_into(x.text_mut(), o.modified);
        x.close("LastModified").open("ETag");
        x.text_mut().push_str("&quot;");
        crate::xml::escape_into(x.text_mut(), o.etag.as_deref().unwrap_or_default());
        x.text_mut().push_str("&quot;");
        x.close("ETag").open("Size");
        let _ = write!(x.text_mut(), "{}", o.size);
        x.close("Size");
        if owner {
            x.open("Owner")
                .leaf("ID", "sluice")
                .leaf("DisplayName", "sluice")
                .close("Owner");
        }
        x.leaf("StorageClass", "STANDARD").close("Contents");
    }
    for p in &page.common_prefixes {
        x.open("CommonPrefixes")
            .leaf("Prefix", &enc(p))
            .close("CommonPrefixes");
    }
    x.close("ListBucketResult");
    Ok(xml_response(200, x.finish()))
}

/// ListObjectVersions on an unversioned bucket: the current objects, each
/// with VersionId `null`, paged by key-marker.
pub(crate) fn list_versions(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    r: &Route,
) -> Result<Response, S3Error> {
    let max_keys = crate::params::max_count("max-keys", r.param("max-keys"), 1000, 1000)?;
    let prefix = r.param("prefix").unwrap_or_default().to_owned();
    let delimiter = r
        .param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let key_marker = r
        .param("key-marker")
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let q = ListQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        start_after: key_marker.clone(),
        max_keys: max_keys.max(1),
        with_etag: true,
    };
    let page = ctx.store.list_objects(bucket, &q)?;
    let url = r.param("encoding-type") == Some("url");
    let enc = |s: &str| {
        if url {
            uri_encode(s, true)
        } else {
            s.to_owned()
        }
    };
    // `encoding-type=url` encodes what botocore's
    // decode_list_object_versions decodes: KeyMarker, NextKeyMarker,
    // Prefix, Delimiter, Version/Key and CommonPrefixes/Prefix.
    let mut x = Xml::new();
    x.root("ListVersionsResult")
        .leaf("Name", bucket)
        .leaf("Prefix", &enc(&prefix));
    x.leaf("KeyMarker", &enc(key_marker.as_deref().unwrap_or_default()))
        .leaf(
            "VersionIdMarker",
            r.param("version-id-marker").unwrap_or_default(),
        );
    x.leaf("MaxKeys", &max_keys.to_string());
    if let Some(d) = &delimiter {
        x.leaf("Delimiter", &enc(d));
    }
    if url {
        x.leaf("EncodingType", "url");
    }
    x.leaf("IsTruncated", if page.truncated { "true" } else { "false" });
    if let Some(next) = &page.next_marker {
        x.leaf("NextKeyMarker", &enc(next))
            .leaf("NextVersionIdMarker", "null");
    }
    for o in &page.objects {
        x.open("Version")
            .leaf("Key", &enc(&o.key))
            .leaf("VersionId", "null")
            .leaf("IsLatest", "true");
        x.leaf("LastModified", &iso8601(o.modified)).leaf(
            "ETag",
            &format!("\"{}\"", o.etag.as_deref().unwrap_or_default()),
        );
        x.leaf("Size", &o.size.to_string())
            .open("Owner")
            .leaf("ID", OWNER_ID)
            .leaf("DisplayName", OWNER_ID)
            .close("Owner");
        x.leaf("StorageClass", "STANDARD").close("Version");
    }
    for p in &page.common_prefixes {
        x.open("CommonPrefixes")
            .leaf("Prefix", &enc(p))
            .close("CommonPrefixes");
    }
    x.close("ListVersionsResult");
    Ok(xml_response(200, x.finish()))
}
