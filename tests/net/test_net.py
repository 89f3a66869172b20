#!/usr/bin/env python3
"""The network commands end to end: pvio net, pvio netback, pvio netfront.

Usage: test_net.py PVIO TEST_NAME
Every test runs real processes (pvio hostd, a backend domain, a frontend
domain) and checks behaviour only, never speed. Each workload runs 1 s.
The netns_* tests build their own network namespaces (guest, peer, dom0),
run pvio netfront --tap eth0 in guest and pvio netback --port tap in
dom0 with a vif script (vif-bridge, vif-route, vif-nat), ping and
iperf3 TCP and UDP (2 s each; in bridge mode also TCP over IPv6 both ways)
through netfront -> ring -> netback -> TAP
in every mode, and always remove what they made. Needs root.
Exit 0 pass, 1 fail (one line per failed check on stdout).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PVIO = os.path.abspath(sys.argv[1])
NAME = sys.argv[2]
failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else " " + detail))
    sys.stdout.flush()
    if not ok:
        failures.append(what)


def run(*args, timeout=60):
    return subprocess.run([PVIO, *args], capture_output=True, text=True,
                          timeout=timeout)


def json_of(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def net_json(*args):
    r = run("net", "--duration", "1", "--json", *args)
    return r, json_of(r)


def expect_pass(*args, want_rx=False, want_tx=True):
    r, doc = net_json(*args)
    name = "pvio net " + " ".join(args)
    check(name + ": exit 0 with one JSON object",
          r.returncode == 0 and doc is not None,
          f"rc={r.returncode} stdout={r.stdout!r} stderr={r.stderr!r}")
    if doc is None:
        return None
    for key in ("mpps", "gbit_per_s", "tx_packets", "rx_packets", "drops",
                "errors", "kicks_per_packet", "backend"):
        check(name + f": has {key}", key in doc, str(list(doc)))
    check(name + ": errors 0", doc.get("errors") == 0, str(doc))
    if want_tx:
        check(name + ": tx packets > 0", doc.get("tx_packets", 0) > 0, str(doc))
    if want_rx:
        check(name + ": rx packets > 0", doc.get("rx_packets", 0) > 0, str(doc))
    return doc


def one_line_error(r, rc, needle, what):
    lines = r.stderr.strip().splitlines()
    check(what, r.returncode == rc and len(lines) == 1 and needle in lines[0],
          f"rc={r.returncode} stderr={r.stderr!r}")


# ---- pvio net ---------------------------------------------------------------

def t_default_json():
    doc = expect_pass()
    if doc:
        b = doc["backend"]
        check("null tx: every packet reached the backend",
              b["tx_packets"] == doc["tx_packets"], str(b))
        check("64-byte frames are copied", b["tx_copied"] > 0, str(b))


def t_text_summary():
    r = run("net", "--duration", "1")
    check("pvio net text: exit 0", r.returncode == 0, r.stderr)
    for word in ("packets", "Mpps", "Gbit/s", "drops", "errors",
                 "per packet", "zero-copy", "flipped"):
        check(f"text summary mentions {word}", word in r.stdout, r.stdout)
    check("no progress lines without a TTY", " s  tx " not in r.stdout,
          r.stdout)


def t_ring():
    doc = expect_pass("--port", "ring")
    if doc:
        check("ring: the port transmitted frames",
              doc.get("port_transmitted", 0) > 0, str(doc))


def t_size_1500():
    for port in ("null", "ring"):
        doc = expect_pass("--port", port, "--size", "1500")
        if doc:
            check(f"{port} 1500: zero-copy sends",
                  doc["backend"]["tx_zerocopy"] > 0, str(doc["backend"]))


def t_rx_copy():
    for port in ("null", "ring"):
        doc = expect_pass("--port", port, "--direction", "rx", "--rx", "copy",
                          want_rx=True, want_tx=False)
        if doc:
            check(f"{port} rx copy: copied, not flipped",
                  doc["backend"]["rx_copied"] > 0 and
                  doc["backend"]["rx_flipped"] == 0, str(doc["backend"]))


def t_rx_flip():
    for port in ("null", "ring"):
        doc = expect_pass("--port", port, "--direction", "rx", "--rx", "flip",
                          want_rx=True, want_tx=False)
        if doc:
            check(f"{port} rx flip: flipped",
                  doc["rx_mode"] == "flip" and
                  doc["backend"]["rx_flipped"] > 0, str(doc))


def t_tx_copy():
    doc = expect_pass("--tx-copy", "never", "--size", "64")
    if doc:
        b = doc["backend"]
        check("--tx-copy never: every 64-byte frame mapped",
              b["tx_zerocopy"] == b["tx_packets"] and b["tx_copied"] == 0, str(b))
    doc = expect_pass("--tx-copy", "always", "--size", "1500")
    if doc:
        b = doc["backend"]
        check("--tx-copy always: every 1500-byte frame copied",
              b["tx_copied"] == b["tx_packets"] and b["tx_zerocopy"] == 0, str(b))
    doc = expect_pass("--tx-copy", "600", "--size", "512", "--duration", "0.3")
    if doc:
        b = doc["backend"]
        check("--tx-copy 600: 512-byte frames copied", b["tx_copied"] > 0 and
              b["tx_zerocopy"] == 0, str(b))


def t_baseline():
    r = run("net", "--baseline", "--duration", "0.2", "--json", "--size", "512")
    doc = json_of(r)
    check("net --baseline: exit 0 with JSON", r.returncode == 0 and doc,
          f"rc={r.returncode} {r.stdout!r} {r.stderr!r}")
    if doc:
        check("net --baseline: frames sent, sized, no errors",
              doc["tx_packets"] > 0 and doc["size"] == 512 and doc["errors"] == 0
              and doc["tx_bytes"] == 512 * doc["tx_packets"] and doc["mpps"] > 0,
              str(doc))
    r = run("net", "--baseline", "--port", "ring")
    one_line_error(r, 2, "--baseline", "net --baseline --port ring exits 2")
    r = run("net", "--baseline", "--size", "60000")
    one_line_error(r, 1, "9216", "net --baseline with jumbo frames beyond 9216 B exits 1")


def t_direction_both():
    for port in ("null", "ring"):
        expect_pass("--port", port, "--direction", "both", want_rx=True)
    expect_pass("--port", "ring", "--direction", "both", "--size", "1500",
                "--rx", "flip", want_rx=True)


def t_queues_2():
    for port in ("null", "ring"):
        doc = expect_pass("--port", port, "--queues", "2", "--direction",
                          "both", want_rx=True)
        if doc:
            check(f"{port}: 2 queues negotiated", doc["queues"] == 2, str(doc))


def t_rate_and_vif():
    doc = expect_pass("--port", "ring", "--rate", "20k", "--burst", "8",
                      "--vif", "mac=00:16:3e:00:00:42,devid=3")
    if doc:
        check("--rate 20k paces tx (at most 1.5x)",
              doc["tx_packets"] <= 30000, str(doc["tx_packets"]))


def t_usage_errors():
    cases = [
        (("net", "--bogus"), "unknown flag '--bogus'"),
        (("net", "--size", "10"), "--size"),
        (("net", "--size", "x"), "--size"),
        (("net", "--burst", "0"), "--burst"),
        (("net", "--rate", "-1"), "--rate"),
        (("net", "--duration", "0"), "--duration"),
        (("net", "--duration", "0.001"), "--duration"),
        (("net", "--duration", "1x"), "--duration"),
        (("net", "--tx-copy", "sometimes"), "--tx-copy"),
        (("net", "--tx-copy", "10"), "--tx-copy"),
        (("net", "--queues", "9"), "--queues"),
        (("net", "--rx", "swap"), "--rx"),
        (("net", "--direction", "up"), "--direction"),
        (("net", "--port", ""), "--port"),
        (("net", "--vif", "mac=zz"), "--vif"),
        (("net", "--vif", "rate=10Mb/s"), "--vif"),
        (("net", "--direction"), "--direction"),
        (("netback", "--frontend", "x"), "--frontend"),
        (("netback", "--queues", "0"), "--queues"),
        (("netback", "--nope"), "unknown flag"),
        (("netfront", "--tap", ""), "--tap"),
        (("netfront", "--devid", "x"), "--devid"),
        (("netfront", "--nope"), "unknown flag"),
    ]
    for args, needle in cases:
        r = run(*args, timeout=20)
        one_line_error(r, 2, needle, "usage: " + " ".join(args) + " exits 2")
    for cmd in ("net", "netback", "netfront"):
        r = run(cmd, "--help")
        check(f"{cmd} --help exits 0 and names its flags",
              r.returncode == 0 and "--json" in r.stdout and
              (cmd == "netfront" or "--port" in r.stdout), r.stdout)


def t_failures():
    for port in ("net_bogus0", "net_null9,bogus=1", "net_af_packet0,iface=nosuch0"):
        t0 = time.monotonic()
        r, _ = net_json("--port", port)
        one_line_error(r, 1, port.split(",")[0],
                       f"--port {port}: exit 1 with one line")
        check(f"--port {port}: no hang", time.monotonic() - t0 < 20)
    r = run("net", "--run-dir", "/nonexistent/pvio", "--duration", "1")
    one_line_error(r, 1, "/nonexistent/pvio", "--run-dir with no hostd: exit 1")
    r = run("netfront", "--run-dir", "/nonexistent/pvio")
    one_line_error(r, 1, "no pvio hostd", "netfront with no hostd: exit 1")


class Hostd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pvio-net-test-")
        self.p = subprocess.Popen([PVIO, "hostd", "--run-dir", self.dir],
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if "serving" not in line:
            raise RuntimeError("hostd did not start: " + line)

    def close(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def t_run_dir():
    h = Hostd()
    try:
        expect_pass("--run-dir", h.dir, "--port", "ring")
        expect_pass("--run-dir", h.dir, "--direction", "both", want_rx=True)
    finally:
        h.close()


def t_separate_sides():
    h = Hostd()
    back = None
    try:
        front = subprocess.Popen([PVIO, "netfront", "--run-dir", h.dir,
                                  "--duration", "1", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        line = front.stderr.readline()
        m = re.search(r"domain (\d+) waits", line)
        check("netfront says its domain", m is not None, line)
        if not m:
            front.kill()
            return
        back = subprocess.Popen([PVIO, "netback", "--run-dir", h.dir,
                                 "--frontend", m.group(1), "--port", "ring",
                                 "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        out, err = front.communicate(timeout=60)
        try:
            doc = json.loads(out)
        except ValueError:
            doc = None
        check("netfront: exit 0 with JSON", front.returncode == 0 and doc,
              f"rc={front.returncode} out={out!r} err={err!r}")
        if doc:
            check("netfront: tx packets, no errors",
                  doc["tx_packets"] > 0 and doc["errors"] == 0, str(doc))
        back.send_signal(signal.SIGTERM)
        bout, berr = back.communicate(timeout=30)
        lines = [ln for ln in bout.splitlines() if ln.startswith("{")]
        bdoc = json.loads(lines[-1]) if lines else None
        check("netback: exit 0 with its counters",
              back.returncode == 0 and bdoc and bdoc["tx_packets"] > 0,
              f"rc={back.returncode} out={bout!r} err={berr!r}")
        back = None
    finally:
        if back:
            back.kill()
            back.wait()
        h.close()


# ---- namespaces -------------------------------------------------------------

NS = ("guest", "peer", "dom0")


def sh(cmd, ok=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                       timeout=60)
    if ok and r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.strip()}")
    return r


def ns_clean():
    for ns in NS:
        sh(f"ip netns del {ns}", ok=False)


def netns_setup(mode):
    """dom0 holds the vif side (bridge, routes, NAT); peer is the far end."""
    ns_clean()
    for ns in NS:
        sh(f"ip netns add {ns}")
        sh(f"ip -n {ns} link set lo up")
    # dom0 <-> peer veth: "uplink" in dom0, eth0 in peer
    sh("ip link add uplink netns dom0 type veth peer name eth0 netns peer")
    sh("ip -n dom0 link set uplink up")
    sh("ip -n peer link set eth0 up")
    if mode == "bridge":
        sh("ip -n dom0 link add xenbr0 type bridge")
        sh("ip -n dom0 link set uplink master xenbr0")
        sh("ip -n dom0 link set xenbr0 up")
        sh("ip -n peer addr add 10.77.0.1/24 dev eth0")
        return dict(vif="mac=00:16:3e:77:00:02,bridge=xenbr0,script=vif-bridge",
                    guest_ip="10.77.0.2/24", peer="10.77.0.1", guest_route=None)
    if mode == "route":
        sh("ip -n dom0 addr add 10.78.1.1/24 dev uplink")
        sh("ip -n peer addr add 10.78.1.2/24 dev eth0")
        sh("ip -n peer route add 10.78.2.0/24 via 10.78.1.1")
        return dict(vif="mac=00:16:3e:78:00:02,script=vif-route,"
                        "ip=10.78.2.2,gatewaydev=uplink",
                    guest_ip="10.78.2.2/32", peer="10.78.1.2",
                    guest_route="10.78.1.1")
    # nat
    sh("ip -n dom0 addr add 10.79.1.1/24 dev uplink")
    sh("ip -n peer addr add 10.79.1.2/24 dev eth0")
    return dict(vif="mac=00:16:3e:79:00:02,script=vif-nat,ip=10.79.2.2,"
                    "gatewaydev=uplink",
                guest_ip="10.79.2.2/24", peer="10.79.1.2",
                guest_route="10.79.2.1")


def wait_for(pred, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def iperf(server, client, extra):
    """One 2-second iperf3 run guest -> peer; (bits/s, lost %, detail)."""
    srv = subprocess.Popen(["ip", "netns", "exec", "peer", "iperf3", "-s",
                            "-B", server, "-1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        out = ""
        for _ in range(30):  # the server needs a moment to listen
            r = sh(f"ip netns exec guest iperf3 -c {server} -B {client} -t 2 -J "
                   + " ".join(extra), ok=False)
            out = r.stdout
            if '"error"' not in out:
                break
            time.sleep(0.2)
        try:
            d = json.loads(out)
            if "-u" in extra:
                s = d["end"]["sum"]
                return s["bits_per_second"], s.get("lost_percent", 0), out[-500:]
            return d["end"]["sum_received"]["bits_per_second"], 0, out[-500:]
        except (ValueError, KeyError):
            return 0, 100, out[-500:] + r.stderr
    finally:
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()


def netns_test(mode):
    h = None
    procs = []
    try:
        cfg = netns_setup(mode)
        h = Hostd()
        front = subprocess.Popen(["ip", "netns", "exec", "guest", PVIO,
                                  "netfront", "--run-dir", h.dir, "--tap",
                                  "eth0"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        procs.append(front)
        line = front.stderr.readline()
        m = re.search(r"domain (\d+) waits", line)
        check(f"{mode}: netfront says its domain", m is not None, line)
        if not m:
            return
        back = subprocess.Popen([PVIO, "netback", "--run-dir", h.dir,
                                 "--frontend", m.group(1), "--port", "tap",
                                 "--netns", "dom0", "--vif", cfg["vif"]],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        procs.append(back)
        bline = back.stdout.readline()
        check(f"{mode}: netback serves the vif", "serving vif" in bline,
              bline + back.stderr.read() if "serving" not in bline else "")
        fline = front.stdout.readline()
        check(f"{mode}: the guest's eth0 is up", "eth0 is up" in fline, fline)
        vif = f"vif{m.group(1)}.0"
        check(f"{mode}: {vif} exists in dom0",
              wait_for(lambda: sh(f"ip -n dom0 link show {vif}", ok=False)
                       .returncode == 0, 10))
        sh(f"ip -n guest addr add {cfg['guest_ip']} dev eth0")
        if cfg["guest_route"]:
            sh(f"ip -n guest route add {cfg['guest_route']} dev eth0")
            sh(f"ip -n guest route add default via {cfg['guest_route']}")
        if mode == "bridge":
            master = sh(f"ip -n dom0 -o link show {vif}").stdout
            check("bridge: vif-bridge enslaved the vif to xenbr0",
                  "master xenbr0" in master, master)
        r = sh(f"ip netns exec guest ping -c 3 -i 0.2 -W 2 {cfg['peer']}",
               ok=False)
        print(r.stdout.strip())
        check(f"{mode}: ping guest -> peer {cfg['peer']}",
              r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout)
        if shutil.which("iperf3"):
            gip = cfg["guest_ip"].split("/")[0]
            tcp = iperf(cfg["peer"], gip, [])
            print(f"{mode}: iperf3 TCP guest -> peer: {tcp[0] / 1e9:.3f} Gbit/s")
            check(f"{mode}: iperf3 TCP moved data", tcp[0] > 0, tcp[2])
            udp = iperf(cfg["peer"], gip, ["-u", "-b", "200M"])
            print(f"{mode}: iperf3 UDP guest -> peer: {udp[0] / 1e6:.1f} Mbit/s, "
                  f"{udp[1]:.2f}% lost")
            check(f"{mode}: iperf3 UDP moved data", udp[0] > 0, udp[2])
            if mode == "bridge":
                # IPv6 TCP both ways: TCPv6 GSO crosses netfront's TAP,
                # the ring and the vif's TAP as virtio-net headers
                sh("ip -n guest addr add fd77::2/64 dev eth0 nodad")
                sh("ip -n peer addr add fd77::1/64 dev eth0 nodad")
                r = sh("ip netns exec guest ping -6 -c 3 -i 0.2 -W 2 fd77::1",
                       ok=False)
                check("bridge: ping -6 guest -> peer", r.returncode == 0,
                      r.stdout + r.stderr)
                t6 = iperf("fd77::1", "fd77::2", ["-6"])
                print(f"bridge: iperf3 TCP/IPv6 guest -> peer: "
                      f"{t6[0] / 1e9:.3f} Gbit/s")
                check("bridge: iperf3 TCP/IPv6 guest -> peer moved data",
                      t6[0] > 0, t6[2])
                r6 = iperf("fd77::1", "fd77::2", ["-6", "-R"])
                print(f"bridge: iperf3 TCP/IPv6 peer -> guest: "
                      f"{r6[0] / 1e9:.3f} Gbit/s")
                check("bridge: iperf3 TCP/IPv6 peer -> guest moved data",
                      r6[0] > 0, r6[2])
        else:
            check("iperf3 is installed (apt-get install iperf3)", False)
        # stop: the guest first (it closes the vif), then the backend
        front.send_signal(signal.SIGTERM)
        out, err = front.communicate(timeout=20)
        check(f"{mode}: netfront stops on SIGTERM with exit 0",
              front.returncode == 0, f"rc={front.returncode} {err}")
        back.send_signal(signal.SIGTERM)
        out, err = back.communicate(timeout=20)
        check(f"{mode}: netback stops on SIGTERM with exit 0",
              back.returncode == 0, f"rc={back.returncode} {err}")
        check(f"{mode}: {vif} is gone",
              sh(f"ip -n dom0 link show {vif}", ok=False).returncode != 0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if h:
            h.close()
        ns_clean()


TESTS = {
    "default_json": t_default_json,
    "text_summary": t_text_summary,
    "ring": t_ring,
    "size_1500": t_size_1500,
    "rx_copy": t_rx_copy,
    "rx_flip": t_rx_flip,
    "direction_both": t_direction_both,
    "tx_copy": t_tx_copy,
    "baseline": t_baseline,
    "queues_2": t_queues_2,
    "rate_and_vif": t_rate_and_vif,
    "usage_errors": t_usage_errors,
    "failures": t_failures,
    "run_dir": t_run_dir,
    "separate_sides": t_separate_sides,
    "netns_bridge": lambda: netns_test("bridge"),
    "netns_route": lambda: netns_test("route"),
    "netns_nat": lambda: netns_test("nat"),
}

if __name__ == "__main__":
    TESTS[NAME]()
    sys.exit(1 if failures else 0)
