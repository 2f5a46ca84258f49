//! Flexible checksums of multipart uploads, as S3 defines them (AWS S3 User
//! Guide, "Checking object integrity in Amazon S3", part-level checksums;
//! API reference of CreateMultipartUpload, UploadPart and
//! CompleteMultipartUpload). Where AWS's documentation leaves an answer
//! open, sluice answers as versitygw's integration tests, which run against
//! AWS, expect.
//!
//! An upload created with `x-amz-checksum-algorithm` has that algorithm
//! for all its parts and a checksum type:
//!
//! - COMPOSITE (the default but for CRC64NVME; any algorithm): the
//!   object's checksum is the algorithm over the concatenated digests of
//!   its parts, shown with `-N` (the number of parts). Each part must send
//!   its checksum, and Complete must name it for each part.
//! - FULL_OBJECT (CRCs only; CRC64NVME's default): the object's checksum is
//!   the CRC of its whole content, combined from the parts' CRCs. A part
//!   that sends none gets one computed.
//!
//! Each part's checksum is verified as it is received and recorded with
//! it; Complete checks those it names against the record (InvalidPart),
//! computes the object's from the record, checks it against the one the
//! request carries (BadDigest), and keeps it with the object, where
//! HeadObject/GetObject (checksum mode) and GetObjectAttributes find it.

use sluice_core::{PartInfo, UploadInfo};
use sluice_sigv4::{ChecksumAlgorithm, ChecksumValue};

use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::Request;

/// The upload's algorithm, kept with the upload (not with the object).
const ALGORITHM_HEADER: &str = "x-sluice-checksum-algorithm";
/// The checksum type, kept with the upload and then the object.
pub(crate) const TYPE_HEADER: &str = "x-amz-checksum-type";

/// How an object's checksum is made of its parts' checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChecksumType {
    /// The algorithm over the parts' digests (`-N`).
    Composite,
    /// The CRC of the whole object.
    FullObject,
}

impl ChecksumType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ChecksumType::Composite => "COMPOSITE",
            ChecksumType::FullObject => "FULL_OBJECT",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [ChecksumType::Composite, ChecksumType::FullObject]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(value.trim()))
    }
}

fn invalid(message: String) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest, message)
}

fn lower(alg: ChecksumAlgorithm) -> String {
    alg.name().to_ascii_lowercase()
}

/// An upload's checksum: algorithm and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UploadChecksum {
    pub(crate) algorithm: ChecksumAlgorithm,
    pub(crate) kind: ChecksumType,
}

impl UploadChecksum {
    /// What a CreateMultipartUpload asks for: None without
    /// `x-amz-checksum-algorithm`.
    ///
    /// # Errors
    /// InvalidRequest for an unknown algorithm or type, a type without an
    /// algorithm, and a type the algorithm does not have (FULL_OBJECT of a
    /// SHA, COMPOSITE of CRC64NVME).
    pub(crate) fn from_create(req: &Request) -> Result<Option<Self>, S3Error> {
        let kind =
            match req.header(TYPE_HEADER) {
                Some(t) => Some(ChecksumType::parse(t).ok_or_else(|| {
                    invalid(format!("Value for {TYPE_HEADER} header is invalid."))
                })?),
                None => None,
            };
        let Some(name) = req.header("x-amz-checksum-algorithm") else {
            return match kind {
                Some(_) => Err(invalid(
                    "The x-amz-checksum-type header can only be used with the \
                     x-amz-checksum-algorithm header."
                        .into(),
                )),
                None => Ok(None),
            };
        };
        let algorithm = ChecksumAlgorithm::from_name(name.trim().as_bytes()).ok_or_else(|| {
            invalid(
                "Checksum algorithm provided is unsupported. Please try again with any of the \
                 valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
                    .into(),
            )
        })?;
        let kind = kind.unwrap_or(if algorithm == ChecksumAlgorithm::Crc64Nvme {
            ChecksumType::FullObject
        } else {
            ChecksumType::Composite
        });
        let allowed = match kind {
            ChecksumType::FullObject => algorithm.combines(),
            ChecksumType::Composite => algorithm != ChecksumAlgorithm::Crc64Nvme,
        };
        if !allowed {
            return Err(invalid(format!(
                "The {} checksum type cannot be used with the {} checksum algorithm.",
                kind.name(),
                lower(algorithm)
            )));
        }
        Ok(Some(UploadChecksum { algorithm, kind }))
    }

    /// The headers kept with the upload.
    pub(crate) fn upload_headers(self) -> [(String, String); 2] {
        [
            (ALGORITHM_HEADER.into(), self.algorithm.name().into()),
            (TYPE_HEADER.into(), self.kind.name().into()),
        ]
    }

    /// The headers CreateMultipartUpload answers with.
    pub(crate) fn response_headers(self) -> [(String, String); 2] {
        [
            (
                "x-amz-checksum-algorithm".into(),
                self.algorithm.name().into(),
            ),
            (TYPE_HEADER.into(), self.kind.name().into()),
        ]
    }

    /// The checksum of an upload, from the headers it was created with.
    pub(crate) fn of_upload(headers: &[(String, String)]) -> Option<Self> {
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        Some(UploadChecksum {
            algorithm: ChecksumAlgorithm::from_name(find(ALGORITHM_HEADER)?.as_bytes())?,
            kind: ChecksumType::parse(find(TYPE_HEADER)?)?,
        })
    }
}

/// The algorithm an UploadPart of an upload computes and records: the one
/// the request names (header or trailer) must be the upload's; when it
/// names none, the upload's FULL_OBJECT CRC is computed, while a COMPOSITE
/// upload refuses the part (its checksum is the client's to send).
///
/// # Errors
/// InvalidRequest, "Checksum Type mismatch occurred".
pub(crate) fn part_algorithm(
    named: Option<ChecksumAlgorithm>,
    upload: Option<UploadChecksum>,
) -> Result<Option<ChecksumAlgorithm>, S3Error> {
    let Some(upload) = upload else {
        return Ok(None);
    };
    match named {
        Some(alg) if alg == upload.algorithm => Ok(None),
        None if upload.kind == ChecksumType::FullObject => Ok(Some(upload.algorithm)),
        other => Err(invalid(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            lower(upload.algorithm),
            other.map_or_else(|| "null".to_owned(), lower)
        ))),
    }
}

/// What a CompleteMultipartUpload says of checksums: the parts' (from its
/// document) and the object's (from its headers).
#[derive(Debug, Default)]
pub(crate) struct CompleteChecksums {
    /// (part number, algorithm, base64 value) as the document names them.
    parts: Vec<(u32, ChecksumAlgorithm, String)>,
    /// The object's checksum (`x-amz-checksum-<alg>`).
    whole: Option<(ChecksumAlgorithm, String)>,
    /// `x-amz-checksum-type`.
    kind: Option<ChecksumType>,
    /// `x-amz-mp-object-size`.
    object_size: Option<u64>,
}

impl CompleteChecksums {
    /// Reads the request's headers and its parts' checksum elements.
    ///
    /// # Errors
    /// InvalidRequest for a malformed value or type, more than one object
    /// checksum; InvalidArgument for a part checksum that is not base64 of
    /// its algorithm's digest, or an unknown checksum element.
    pub(crate) fn parse(req: &Request, doc: &Element) -> Result<Self, S3Error> {
        let mut out = CompleteChecksums::default();
        for part in doc.all("Part") {
            let Some(number) = part
                .first("PartNumber")
                .and_then(|n| n.text().trim().parse::<u32>().ok())
            else {
                continue;
            };
            for c in part.children() {
                let Some(name) = c.name.strip_prefix("Checksum") else {
                    continue;
                };
                if name == "Type" {
                    continue;
                }
                let value = c.text().trim().to_owned();
                let alg = ChecksumAlgorithm::from_name(name.as_bytes())
                    .filter(|a| ChecksumValue::from_base64(*a, value.as_bytes()).is_ok())
                    .ok_or_else(|| {
                        S3Error::new(
                            S3ErrorCode::InvalidArgument,
                            format!("Invalid checksum {} for part {number}.", c.name),
                        )
                    })?;
                out.parts.push((number, alg, value));
            }
        }
        let mut named = ChecksumAlgorithm::ALL.into_iter().filter_map(|a| {
            req.header(a.header_name())
                .map(|v| (a, v.trim().to_owned()))
        });
        out.whole = named.next();
        if named.next().is_some() {
            return Err(invalid(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not \
                 allowed."
                    .into(),
            ));
        }
        if let Some((alg, value)) = &out.whole {
            let digest = value.rsplit_once('-').map_or(value.as_str(), |(d, _)| d);
            if ChecksumValue::from_base64(*alg, digest.as_bytes()).is_err() {
                return Err(invalid(format!(
                    "Value for {} header is invalid.",
                    alg.header_name()
                )));
            }
        }
        out.kind =
            match req.header(TYPE_HEADER) {
                Some(t) => Some(ChecksumType::parse(t).ok_or_else(|| {
                    invalid(format!("Value for {TYPE_HEADER} header is invalid."))
                })?),
                None => None,
            };
        out.object_size = match req.header("x-amz-mp-object-size") {
            Some(v) => Some(v.trim().parse().map_err(|_| {
                invalid("Value for x-amz-mp-object-size header is invalid.".into())
            })?),
            None => None,
        };
        Ok(out)
    }

    /// The object's headers: the upload's, with the object's checksum
    /// computed from the parts' recorded checksums. Called by the store
    /// under the completion's lock.
    ///
    /// # Errors
    /// InvalidPart when a part checksum named is not the part's; InvalidRequest
    /// when a checksum the upload needs is missing, or the request's type,
    /// algorithm or size is not the upload's; BadDigest when the object's
    /// checksum is not the one sent.
    pub(crate) fn finish(
        &self,
        upload: &UploadInfo,
        parts: &[PartInfo],
    ) -> Result<Vec<(String, String)>, S3Error> {
        let plan = UploadChecksum::of_upload(&upload.headers);
        if let Some(kind) = self.kind {
            if plan.map(|p| p.kind) != Some(kind) {
                return Err(invalid(format!(
                    "The upload was created using the {} checksum mode. The complete request \
                     must use the same checksum mode.",
                    plan.map_or("null", |p| p.kind.name())
                )));
            }
        }
        if let Some(size) = self.object_size {
            let total = parts.iter().fold(0u64, |t, p| t.saturating_add(p.size));
            if size != total {
                return Err(invalid(format!(
                    "The provided 'x-amz-mp-object-size' header value {size} does not match \
                     what was computed: {total}"
                )));
            }
        }
        for p in parts {
            let mut named_plan = false;
            for (_, alg, value) in self.parts.iter().filter(|(n, _, _)| *n == p.number) {
                if recorded(p, *alg) != Some(value.as_str()) {
                    return Err(S3Error::new(
                        S3ErrorCode::InvalidPart,
                        format!(
                            "One or more of the specified parts could not be found. The {} \
                             checksum named for part {} is not the part's.",
                            lower(*alg),
                            p.number
                        ),
                    ));
                }
                named_plan |= plan.is_some_and(|pl| pl.algorithm == *alg);
            }
            if let Some(pl) = plan.filter(|pl| pl.kind == ChecksumType::Composite) {
                if !named_plan {
                    return Err(invalid(format!(
                        "The upload was created using a {} checksum. The complete request must \
                         include the checksum for each part. It was missing for part {} in the \
                         request.",
                        lower(pl.algorithm),
                        p.number
                    )));
                }
            }
        }
        let mut headers: Vec<(String, String)> = upload
            .headers
            .iter()
            .filter(|(n, _)| n != ALGORITHM_HEADER)
            .cloned()
            .collect();
        let Some(plan) = plan else {
            if let Some((alg, _)) = &self.whole {
                return Err(invalid(format!(
                    "The upload was created without a checksum algorithm: it has no {} \
                     checksum to check.",
                    lower(*alg)
                )));
            }
            return Ok(headers);
        };
        let mut values = Vec::with_capacity(parts.len());
        for p in parts {
            let value = recorded(p, plan.algorithm)
                .and_then(|v| ChecksumValue::from_base64(plan.algorithm, v.as_bytes()).ok())
                .ok_or_else(|| {
                    S3Error::new(
                        S3ErrorCode::InvalidPart,
                        format!(
                            "Part {} has no recorded {} checksum.",
                            p.number,
                            lower(plan.algorithm)
                        ),
                    )
                })?;
            values.push(value);
        }
        let value = match plan.kind {
            ChecksumType::Composite => ChecksumValue::composite(plan.algorithm, &values)
                .map(|v| format!("{}-{}", v.to_base64(), values.len())),
            ChecksumType::FullObject => {
                let mut iter = values.iter().zip(parts);
                let first = iter.next().map(|(v, _)| *v);
                first
                    .and_then(|first| {
                        iter.try_fold(first, |acc, (v, p)| ChecksumValue::combine(&acc, v, p.size))
                    })
                    .map(|v| v.to_base64())
            }
        }
        .ok_or_else(|| S3Error::internal("the upload's checksums do not combine"))?;
        if let Some((alg, sent)) = &self.whole {
            if *alg != plan.algorithm {
                return Err(invalid(format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual \
                     checksum Type: {}",
                    lower(plan.algorithm),
                    lower(*alg)
                )));
            }
            let matches = match plan.kind {
                // With or without the `-N` S3 shows.
                ChecksumType::Composite => {
                    *sent == value || format!("{sent}-{}", values.len()) == value
                }
                ChecksumType::FullObject => *sent == value,
            };
            if !matches {
                return Err(S3Error::new(
                    S3ErrorCode::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        plan.algorithm.name()
                    ),
                ));
            }
        }
        headers.push((plan.algorithm.header_name().to_owned(), value));
        Ok(headers)
    }
}

/// The checksum of `alg` recorded with a part.
fn recorded(p: &PartInfo, alg: ChecksumAlgorithm) -> Option<&str> {
    p.headers
        .iter()
        .find(|(n, _)| n == alg.header_name())
        .map(|(_, v)| v.as_str())
}

/// The checksum an object keeps, as (algorithm, value) and its type: what
/// HeadObject/GetObject (checksum mode), GetObjectAttributes and
/// CompleteMultipartUpload answer. An object put in one request has a
/// FULL_OBJECT checksum.
pub(crate) fn object_checksum(
    headers: &[(String, String)],
) -> Option<(ChecksumAlgorithm, &str, &str)> {
    let (alg, value) = headers.iter().find_map(|(n, v)| {
        ChecksumAlgorithm::from_header_name(n.as_bytes()).map(|a| (a, v.as_str()))
    })?;
    let kind = headers
        .iter()
        .find(|(n, _)| n == TYPE_HEADER)
        .map_or(ChecksumType::FullObject.name(), |(_, v)| v.as_str());
    Some((alg, value, kind))
}

/// The element name of a checksum in S3's documents (`ChecksumCRC32`).
pub(crate) fn element(alg: ChecksumAlgorithm) -> String {
    format!("Checksum{}", alg.name())
}
