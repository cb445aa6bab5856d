"""Pinning vtysh's refusals to batch lines, on transcripts recorded from FRR 8.4.

batch-refused.txt: a batch in which FRR refuses a prefix-list (reported late, as a northbound
transaction grouped by XFRR), then `router bgp 65999` on a switch running AS 65101 (a message
without `%`, glued by vtysh to the previous one), and the lines that then fall out of context.
batch-accepted.txt: a batch FRR took whole, with a line wider than readline's 80 columns.
"""

from __future__ import annotations

from pathlib import Path

from drivers.ssh.frr_push import Refusal, refusals, wrap

DATA = Path(__file__).resolve().parents[1] / "data" / "ssh" / "frr"
REFUSED_BATCH = ["ip route 10.1.0.0/16 192.168.1.5 tag 64512", "ip prefix-list FI-X seq 5 permit 10.0.0.0/8 le 4",
                 "router bgp 65999", " neighbor 192.168.1.7 remote-as 64601", "exit"]
ACCEPTED_BATCH = ["ip route 10.244.7.0/24 192.168.1.17 tag 64512",
                  "ipv6 route 2001:db8:244:7::/64 2001:db8:1::17 tag 64512",
                  "ip prefix-list FI-NODE-n7 seq 10 permit 10.244.7.0/24", "router bgp 65101",
                  " neighbor 192.168.1.17 remote-as 64607", " neighbor 192.168.1.17 description fabric-intent: node n7",
                  "exit"]


def test_each_refusal_is_pinned_to_the_line_that_caused_it() -> None:
    found = refusals((DATA / "batch-refused.txt").read_text(), REFUSED_BATCH)
    assert found[:3] == [
        Refusal(index=1, message="% Configuration failed: Invalid prefix range for 10.0.0.0/8: "
                                 "Make sure that mask length <= ge <= le"),
        Refusal(index=2, message="BGP is already running; AS is 65101"),
        Refusal(index=3, message="% Unknown command:  neighbor 192.168.1.7 remote-as 64601"),
    ]
    assert found[-1] == Refusal(index=len(REFUSED_BATCH), message="% Unknown command: XFRR_end_configuration")


def test_an_accepted_batch_has_no_refusals() -> None:
    text = (DATA / "batch-accepted.txt").read_text()
    assert "\x1b[" in text, "the transcript holds readline's redraw of a long line"
    assert refusals(text, ACCEPTED_BATCH) == []


def test_a_batch_is_wrapped_for_one_commit() -> None:
    assert wrap(["ip route 10.0.0.0/8 192.0.2.1 tag 1"]) == [
        "configure terminal", "XFRR_start_configuration", "ip route 10.0.0.0/8 192.0.2.1 tag 1",
        "XFRR_end_configuration", "end"]


def test_output_without_echo_still_reports_the_refusal() -> None:
    assert refusals("% Unknown command: foo\n", ["foo"]) == [Refusal(index=-1, message="% Unknown command: foo")]
    assert refusals("h# configure terminal\nh(config)# XFRR_start_configuration\nh(config)# foo\n"
                    "% Unknown command: foo\n", ["foo"]) == [Refusal(index=0, message="% Unknown command: foo")]
