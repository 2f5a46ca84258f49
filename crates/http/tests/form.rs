//! Property tests of the `multipart/form-data` parser: any form built from
//! parts (contents full of near-delimiters), split at any positions, parses
//! to exactly those parts; random bytes never panic.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_http::fuzzing::{build_form, parse_form_in_pieces, FormPart};

/// Contents made of pieces that look like the delimiter's beginnings.
fn content() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        Just(b"\r\n--".to_vec()),
        Just(b"\r\n--bound".to_vec()),
        Just(b"--boundary".to_vec()),
        Just(b"\r\n-".to_vec()),
        Just(b"\r".to_vec()),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

fn part() -> impl Strategy<Value = FormPart> {
    (
        "[a-zA-Z0-9_-]{0,12}",
        proptest::option::of("[a-zA-Z0-9 ._-]{0,12}"),
        proptest::option::of("[a-z]{1,8}/[a-z]{1,8}"),
        content(),
    )
        .prop_map(|(name, filename, content_type, data)| FormPart {
            name,
            filename,
            content_type,
            data,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_built_form_parses_back_split_anywhere(
        parts in proptest::collection::vec(part(), 0..5),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
    ) {
        let boundary = b"boundary";
        // A content holding the delimiter is not a valid part: the test's
        // model would be wrong, not the parser.
        let delimiter = b"\r\n--boundary";
        prop_assume!(parts.iter().all(|p| !p.data.windows(delimiter.len()).any(|w| w == delimiter)));
        let body = build_form(boundary, &parts);
        prop_assert_eq!(parse_form_in_pieces(boundary, &body, &cuts).unwrap(), parts.clone());
        // Cut anywhere short of the closing delimiter, the form is incomplete.
        let shorter = &body[..body.len() - 3];
        prop_assert!(parse_form_in_pieces(boundary, shorter, &cuts).is_err());
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        sluice_http::fuzzing::form(&data);
    }
}
