//! SNTP replies (`net::ntp::parse_reply`).
//!
//! Input: our transmit time T1 and receive time T4 (nanoseconds since 1970,
//! 8 bytes each), a control byte, then the reply. Unless the control byte
//! says otherwise, the reply's originate timestamp is patched to ours, as a
//! real server's would be.
//!
//! Invariants:
//! - a reply is accepted only when it is at least 48 bytes, answers our
//!   request (originate timestamp), is in server mode, has a stratum of 1 to
//!   15, no alarm leap indicator and a transmit timestamp;
//! - the offset and delay are RFC 4330's, the delay is never negative, and
//!   the corrected time is a valid `clock_settime` argument;
//! - the reason for a refused reply prints as one line;
//! - NTP timestamps between 1968 and 2104 survive the round trip.

use boot2container::net::ntp::{
    build_request, from_ntp, offset_delay, parse_reply, to_ntp, Offset, ReplyError,
};

const NANOS: i128 = 1_000_000_000;
/// 1968-01-20: from there on, for 2^32 seconds (until 2104), the 32-bit
/// seconds of an NTP timestamp read as era 0's second half or era 1's first.
const FIRST: i128 = (2_147_483_648 - 2_208_988_800) * NANOS;

/// The fuzz target `ntp`.
pub fn run(data: &[u8]) {
    let mut input = crate::Input::new(data);
    let t1 = i128::from(input.u64() as i64);
    let t4 = t1 + i128::from(input.u64() as i64 >> 16);
    let control = input.u8();
    let mut reply = input.rest().to_vec();
    let request = build_request(t1);
    if control & 1 == 0 && reply.len() >= 32 {
        reply[24..32].copy_from_slice(&request[40..48]);
    }

    let span = FIRST..FIRST + (1 << 32) * NANOS;
    if span.contains(&t1) {
        let back = from_ntp(to_ntp(t1));
        assert!(
            (back - t1).abs() <= 1,
            "NTP timestamp round trip {t1} -> {back}"
        );
    }

    match parse_reply(&reply, &request, t4) {
        Ok((stratum, offset, delay)) => {
            assert!(reply.len() >= 48);
            assert_eq!(
                reply[24..32],
                request[40..48],
                "not an answer to our request"
            );
            assert_eq!(reply[0] & 7, 4, "not in server mode");
            assert!(reply[0] >> 6 != 3, "alarm leap indicator accepted");
            assert!((1..=15).contains(&stratum), "stratum {stratum}");
            assert!(reply[40..48] != [0; 8], "no transmit timestamp");
            let ts = |at: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&reply[at..at + 8]);
                from_ntp(u64::from_be_bytes(b))
            };
            let t1_sent = from_ntp(to_ntp(t1));
            assert_eq!((offset, delay), offset_delay(t1_sent, ts(32), ts(40), t4));
            assert!(delay >= Offset(0), "negative delay {delay:?}");
            // What step_clock would set: representable as a timespec.
            let target = t4 + offset.0;
            assert!(i64::try_from(target.div_euclid(NANOS)).is_ok());
            let _ = offset.to_string();
        }
        Err(ReplyError::NotOurs) => {}
        Err(ReplyError::Bad(why)) => crate::assert_console_safe("NTP reply refused", &why),
    }
}
