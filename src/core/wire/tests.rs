//! Tests of the wire format: round trips, and fuzz-style hostile input that must fail cleanly.

use super::*;
use crate::core::channel;

const S: [u8; 16] = [3u8; 16];

fn frames_ref(frames: &[Bytes]) -> Vec<&[u8]> {
    frames.iter().map(|f| &f[..]).collect()
}

fn sample() -> Item {
    let buf = BufferData {
        bytes: (0u8..24).collect::<Vec<_>>().into(),
        layout: Layout::new(c"<i", 4, &[2, 3], 24).unwrap(),
    };
    let inner = Item::Dict(
        vec![
            (
                Item::Str("k".into()),
                Item::List(vec![Item::BufferAt(0), Item::BufferAt(1)].into()),
            ),
            (
                Item::Tuple(
                    vec![
                        Item::Int(-5),
                        Item::BigInt("-0x1fffffffffffffffffff".into()),
                    ]
                    .into(),
                ),
                Item::Set(vec![Item::Float(1.5), Item::Complex(1.0, -2.0), Item::None].into()),
            ),
            (
                Item::Bool(true),
                Item::FrozenSet(vec![Item::Bytes(b"x\0y".to_vec().into())].into()),
            ),
            (Item::Bool(false), Item::Buffer(Box::new(buf))),
            (
                Item::Int(9),
                Item::StrSurrogates(b"a\xed\xa0\x80b".to_vec().into()),
            ),
            (Item::Int(10), Item::Pickled(b"\x80\x05N.".to_vec().into())),
        ]
        .into(),
    );
    let moved = vec![
        BufferData::bytes(vec![1u8; 5].into()),
        BufferData::bytes(Box::new([])),
    ];
    Item::WithBuffers(Box::new((inner, moved.into())))
}

#[test]
fn every_kind_round_trips() {
    let expected = format!("{:?}", sample());
    let frames = encode(S, 5, sample()).unwrap();
    assert_eq!(
        frames.len(),
        2 + 3,
        "header, body, two moved buffers and one copied one"
    );
    match decode(&frames_ref(&frames)).unwrap() {
        Message::Item { stream, seq, item } => {
            assert_eq!((stream, seq), (S, 5));
            assert_eq!(format!("{item:?}"), expected);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn end_of_stream_round_trips() {
    let frames = end_frames(S, 42);
    assert!(
        matches!(decode(&frames_ref(&frames)), Ok(Message::End { stream, count: 42 }) if stream == S)
    );
}

#[test]
fn channel_ends_are_refused() {
    let (tx, _rx) = channel(None);
    let err = encode(S, 5, Item::List(vec![Item::Sender(tx)].into())).unwrap_err();
    assert!(err.0.contains("channel ends"), "{err}");
}

#[test]
fn every_truncation_fails_cleanly() {
    let frames = encode(S, 5, sample()).unwrap();
    let body = &frames[1];
    for cut in 0..body.len() {
        let mut f = frames_ref(&frames);
        f[1] = &body[..cut];
        assert!(decode(&f).is_err(), "cut at {cut}");
    }
    for n in 0..frames.len() {
        assert!(decode(&frames_ref(&frames)[..n]).is_err(), "{n} frames");
    }
    let mut f = frames_ref(&frames);
    f.push(b"extra");
    assert!(decode(&f).is_err(), "an unused frame");
}

/// A small deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_and_random_messages_never_panic() {
    let frames = encode(S, 5, sample()).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut body = frames[1].to_vec();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % body.len();
            body[i] = rng.next() as u8;
        }
        let mut f = frames_ref(&frames);
        f[1] = &body;
        accepted += decode(&f).is_ok() as usize;
    }
    // Some flips land in payload bytes and still decode (to a different, valid item).
    assert!(accepted < 20_000);
    for _ in 0..20_000 {
        let len = (rng.next() % 64) as usize;
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let head = header(KIND_ITEM, S, 0);
        let _ = decode(&[&head, &body]);
    }
}

#[test]
fn huge_counts_fail_without_allocating() {
    let head = header(KIND_ITEM, S, 0);
    for t in [tag::LIST, tag::DICT, tag::BYTES, tag::STR, tag::PICKLED] {
        let mut body = vec![t];
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&[&head, &body]).is_err());
    }
}

#[test]
fn deep_nesting_is_refused() {
    let head = header(KIND_ITEM, S, 0);
    let mut body = Vec::new();
    for _ in 0..MAX_DEPTH + 1 {
        body.push(tag::LIST);
        body.extend_from_slice(&1u64.to_le_bytes());
    }
    body.push(tag::NONE);
    // Decoding recurses: like the bridge's threads, give it a large stack (debug builds' frames
    // are big).
    let err = std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || decode(&[&head, &body]).unwrap_err())
        .unwrap()
        .join()
        .unwrap();
    assert!(err.0.contains("nested"));
}

#[test]
fn hostile_values_are_refused() {
    let head = header(KIND_ITEM, S, 0);
    let cases: Vec<Vec<u8>> = vec![
        // invalid UTF-8
        [&[tag::STR][..], &2u64.to_le_bytes(), b"\xff\xfe"].concat(),
        // a NUL in big int text
        [&[tag::BIGINT][..], &3u64.to_le_bytes(), b"1\x002"].concat(),
        // an unhashable dict key
        [
            &[tag::DICT][..],
            &1u64.to_le_bytes(),
            &[tag::LIST],
            &0u64.to_le_bytes(),
            &[tag::NONE],
        ]
        .concat(),
        // a moved buffer outside a buffer table
        [&[tag::BUFFER_AT][..], &0u64.to_le_bytes()].concat(),
        // an unknown tag
        vec![0x7f],
    ];
    for body in cases {
        assert!(decode(&[&head, &body]).is_err(), "{body:?}");
    }
    // Twice the same moved buffer.
    let item = Item::WithBuffers(Box::new((
        Item::List(vec![Item::BufferAt(0), Item::BufferAt(0)].into()),
        vec![BufferData::bytes(vec![1u8].into())].into(),
    )));
    let frames = encode(S, 5, item).unwrap();
    assert!(decode(&frames_ref(&frames)).is_err());
    // A layout that does not match its frame.
    let frames = encode(
        S,
        5,
        Item::Buffer(Box::new(BufferData::bytes(vec![0u8; 8].into()))),
    )
    .unwrap();
    let mut f = frames_ref(&frames);
    f[2] = b"short";
    assert!(decode(&f).is_err());
}

#[test]
fn bad_headers_are_refused() {
    let body = [tag::NONE];
    let mut head = header(KIND_ITEM, S, 0);
    head[4] = 2;
    assert!(decode(&[&head, &body]).unwrap_err().0.contains("version"));
    let mut head = header(KIND_ITEM, S, 0);
    head[0] = b'X';
    assert!(decode(&[&head, &body]).is_err());
    let head = header(9, S, 0);
    assert!(decode(&[&head, &body]).is_err());
    assert!(decode(&[&header(KIND_END, S, 0), &body]).is_err());
    assert!(decode(&[]).is_err());
}

/// A batch of `n` buffer-free items of several kinds, and what they look like decoded.
fn sample_batch(n: i64) -> (Vec<Bytes>, Vec<String>) {
    let mut batch = Batch::new();
    let mut expected = Vec::new();
    for i in 0..n {
        let item = Item::Tuple(
            vec![
                Item::Int(i),
                Item::Str("é".repeat(i as usize % 3).into()),
                Item::List(vec![Item::Float(0.5), Item::None].into()),
            ]
            .into(),
        );
        expected.push(format!("{item:?}"));
        assert!(batch.push(item).unwrap().is_none());
    }
    assert_eq!(batch.len(), n as u64);
    (batch.take_frames(S, 7), expected)
}

#[test]
fn batches_round_trip_and_one_item_goes_as_an_item_message() {
    let (frames, expected) = sample_batch(5);
    assert_eq!(frames[0][4..6], [VERSION_BATCH, KIND_BATCH]);
    match decode(&frames_ref(&frames)).unwrap() {
        Message::Batch {
            stream,
            first,
            items,
        } => {
            assert_eq!((stream, first), (S, 7));
            let got: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
            assert_eq!(got, expected);
        }
        other => panic!("{other:?}"),
    }
    let (frames, expected) = sample_batch(1);
    assert_eq!(frames[0][4..6], [VERSION, KIND_ITEM]);
    assert!(matches!(decode(&frames_ref(&frames)).unwrap(),
        Message::Item { seq: 7, item, .. } if format!("{item:?}") == expected[0]));
}

#[test]
fn items_with_buffers_are_not_batched() {
    let mut batch = Batch::new();
    assert!(batch.push(Item::Int(1)).unwrap().is_none());
    let before = batch.bytes();
    let alone = batch.push(sample()).unwrap().expect("carries buffers");
    assert_eq!(
        (batch.len(), batch.bytes()),
        (1, before),
        "the batch is as it was"
    );
    let frames = item_frames(S, 9, alone);
    let expected = format!("{:?}", sample());
    assert!(matches!(decode(&frames_ref(&frames)).unwrap(),
        Message::Item { seq: 9, item, .. } if format!("{item:?}") == expected));
    let (tx, _rx) = channel(None);
    assert!(batch.push(Item::Sender(tx)).is_err());
    assert_eq!(
        (batch.len(), batch.bytes()),
        (1, before),
        "an error leaves the batch intact"
    );
}

#[test]
fn hostile_batches_fail_cleanly() {
    let (frames, _) = sample_batch(4);
    let body = &frames[1];
    for cut in 0..body.len() {
        let mut f = frames_ref(&frames);
        f[1] = &body[..cut];
        assert!(decode(&f).is_err(), "cut at {cut}");
    }
    let mut f = frames_ref(&frames);
    f.push(b"a buffer frame");
    assert!(decode(&f).is_err(), "a batch has exactly one body frame");
    assert!(decode(&frames_ref(&frames)[..1]).is_err());
    // Version and kind must agree.
    let mut head = frames[0].to_vec();
    head[4] = VERSION;
    assert!(decode(&[&head, &body[..]])
        .unwrap_err()
        .0
        .contains("version"));
    let mut head = header(KIND_ITEM, S, 0);
    head[4] = VERSION_BATCH;
    assert!(decode(&[&head, &[tag::NONE][..]]).is_err());
    // Counts that do not fit the body, lengths past the end, a batch of one or none.
    let batch_head = header(KIND_BATCH, S, 0);
    for count in [0u64, 1, 5, u64::MAX] {
        let mut b = count.to_le_bytes().to_vec();
        b.extend_from_slice(&1u64.to_le_bytes());
        b.push(tag::NONE);
        b.extend_from_slice(&1u64.to_le_bytes());
        b.push(tag::TRUE);
        assert_eq!(
            decode(&[&batch_head, &b]).is_ok(),
            count == 2,
            "count {count}"
        );
    }
    let mut b = 2u64.to_le_bytes().to_vec();
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    assert!(decode(&[&batch_head, &b]).is_err());
    // Items of a batch cannot name buffer frames.
    let mut b = 2u64.to_le_bytes().to_vec();
    for _ in 0..2 {
        b.extend_from_slice(&9u64.to_le_bytes());
        b.push(tag::BUFFER_AT);
        b.extend_from_slice(&0u64.to_le_bytes());
    }
    assert!(decode(&[&batch_head, &b]).is_err());
    // Random mutations: errors or valid items, never a panic.
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let mut b = body.to_vec();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % b.len();
            b[i] = rng.next() as u8;
        }
        let _ = decode(&[&frames[0], &b]);
    }
}
