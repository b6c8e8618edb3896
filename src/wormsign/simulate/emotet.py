"""Emotet (phishing, brute-force spreader, admin-share service) and the Qakbot it drops (task spreader)."""

from __future__ import annotations

from wormsign.simulate.creds import BAD_PASSWORD
from wormsign.simulate.org import Host
from wormsign.simulate.plan import Infection
from wormsign.simulate.util import guid, iso_us, rng, weighted
from wormsign.simulate.worm import MIN, Outbreak

SEC = 1000


class EmotetOutbreak(Outbreak):
    """``with_qakbot``: Emotet drops Qakbot on a share of its hosts, and Qakbot spreads on its own."""

    def __init__(self, plan, attack_at: int, with_qakbot: bool = False) -> None:  # type: ignore[no-untyped-def]
        super().__init__(plan, attack_at)
        self.with_qakbot = with_qakbot
        f = self.fam("emotet")
        self.same_hash = self.r.random() < f["same_hash"]
        self.svc_style = weighted(self.r, f["service_name"])
        self.c2 = self.c2_set("emotet")
        self.q_c2 = self.c2_set("qakbot") if with_qakbot else []

    def start(self) -> None:
        ws = self.org.workstations
        p0 = ws[self.r.randrange(len(ws))]
        self.plan.patient_zero = p0.name
        f = self.fam("emotet")
        r = rng(self.plan.seed, "phish")
        user = p0.owner or "user"
        image = f"C:\\Users\\{user}\\AppData\\Local\\{self.rand_name(r, '')}\\{self.rand_name(r)}"
        sha = self.binary("emotet", p0, True)
        a = self.plan.add("phish", self.t0, None, p0, attack=True, user=user, image=image, sha=sha,
                          lure=r.choice(f["lure"]).replace("{n}", str(r.randrange(1000, 99999))),
                          domain=r.choice(f["delivery_domains"]), script=weighted(r, f["script_host"]),
                          dl_ip=f"{r.choice([5, 37, 91, 194])}.{r.randrange(1, 255)}.{r.randrange(1, 255)}.{r.randrange(2, 254)}")
        inf = self.record(p0, self.t0 + 40 * SEC, None, "phishing", "emotet", sha, image)
        assert inf is not None
        a.p["guid"], a.p["pid"] = inf.guid, inf.pid
        self.infected(inf)
        self.run()

    def infected(self, inf: Infection) -> None:
        f = self.fam("emotet")
        self.beacons(inf, "emotet", self.c2)
        r = rng(self.plan.seed, "spreader", "emotet", inf.host.name)
        self.at(inf.time + r.randint(*f["spread_delay"]) * MIN, self.spread, inf.host, "emotet")
        if self.with_qakbot:
            q = self.fam("qakbot")
            if r.random() < q["delivery_share"] or not self.plan.deliveries:
                self.at(inf.time + r.randint(*q["delivery_delay"]) * MIN, self.deliver, inf)

    def spread(self, t: int, src: Host, family: str) -> None:
        f = self.fam(family)
        r = rng(self.plan.seed, "targets", family, src.name)
        for dst in self.targets(r, src, r.randint(*f["targets"])):
            t += r.randint(*f["session_gap_s"]) * SEC
            self.at(t, self.session if family == "emotet" else self.q_session, src, dst)

    def session(self, t: int, src: Host, dst: Host) -> None:
        if self.infected_by(dst, t):
            return
        f = self.fam("emotet")
        r = rng(self.plan.seed, "session", src.name, dst.name, t)
        self.plan.attacked.add(dst.name) if dst.name not in self.plan.infections else None
        t_end, attempts, cred = self.brute(r, t, src, dst, f)
        self.plan.add("bruteforce", t, src, dst, attack=True, attempts=attempts)
        if cred is None:
            return
        share = self.share_mode if r.random() < 0.8 else ("C$" if self.share_mode == "ADMIN$" else "ADMIN$")
        name = self.copy_name("emotet", self.rand_name(r))
        rel = name if share == "ADMIN$" else f"Windows\\Temp\\{name}"
        path = ("C:\\Windows\\" if share == "ADMIN$" else "C:\\") + rel
        sha = self.binary("emotet", dst, self.same_hash)
        t_run = t_end + 5 * SEC
        inf = self.record(dst, t_run, src, "admin-share-copy+service", "emotet", sha, path)
        if inf is None:
            return
        service = self.service_name(r, self.svc_style)
        if self.org.real.fixed_names:
            service = self.service_name(rng(self.plan.seed, "fixed-service"), self.svc_style)
        self.plan.add("spread", t_end + 800, src, dst, attack=True, family="emotet", account=cred[0], domain=cred[1],
                      share=share, rel=rel, sha=sha, how="service", name=service,
                      guid=inf.guid, pid=inf.pid, t_run=t_run,
                      **self.logon_style(src, dst, t_end + 800, cred[1]))
        self.infected(inf)

    # -- Qakbot ------------------------------------------------------------------------
    def deliver(self, t: int, inf: Infection) -> None:
        host = inf.host
        r = rng(self.plan.seed, "qakbot", host.name)
        q_sha = self.binary("qakbot", host, False)
        image = f"C:\\Users\\{host.owner or 'Public'}\\AppData\\Roaming\\Microsoft\\{self.rand_name(r, '')}\\{self.rand_name(r)}"
        pr = rng(self.plan.seed, "proc", "qakbot", host.name)
        q = Infection(host, t + 3 * SEC, inf.infector, "delivered-by-emotet", "qakbot", [q_sha[0]], image,
                      guid(pr), pr.randrange(1000, 9000) & ~3)
        if not self.org.start <= t < self.org.end:
            return
        self.plan.add("deliver", t, None, host, attack=True, parent_image=inf.image, parent_guid=inf.guid,
                      parent_pid=inf.pid, image=image, sha=q_sha, guid=q.guid, pid=q.pid, c2=self.q_c2[0])
        self.plan.extra.append(q)
        inf.families.append("qakbot")
        self.plan.hashes.setdefault("qakbot", set()).add(q_sha[0])
        self.plan.deliveries.append({"from_family": "emotet", "to_family": "qakbot", "host": host.name,
                                     "time": iso_us(t + 3 * SEC)})
        self.q_infected(q)

    def q_infected(self, inf: Infection) -> None:
        f = self.fam("qakbot")
        self.beacons(inf, "qakbot", self.q_c2)
        r = rng(self.plan.seed, "spreader", "qakbot", inf.host.name)
        self.at(inf.time + r.randint(*f["spread_delay"]) * MIN, self.spread, inf.host, "qakbot")

    def q_session(self, t: int, src: Host, dst: Host) -> None:
        if self.infected_by(dst, t):
            return
        r = rng(self.plan.seed, "qsession", src.name, dst.name, t)
        if r.random() >= self.fam("qakbot")["success"]:
            # the harvested user credentials are refused: one failed logon, the host is only attacked
            account = src.owner or self.org.users[0]
            self.plan.add("bruteforce", t, src, dst, attack=True, attempts=[(t, account, self.org.netbios, BAD_PASSWORD)])
            if self.locks.fail(account, t):
                self.lockout(t + 500, account, src, dst, t)
            self.plan.attacked.add(dst.name)
            return
        name = self.copy_name("qakbot", self.rand_name(r, ".dll" if r.random() < 0.3 else ".exe"))
        rel = f"Windows\\Temp\\{name}" if self.share_mode == "C$" else name
        share = self.share_mode
        path = ("C:\\Windows\\" if share == "ADMIN$" else "C:\\") + rel
        sha = self.binary("qakbot", dst, False)
        inf = self.record(dst, t + 4 * SEC, src, "admin-share-copy+scheduled-task", "qakbot", sha, path)
        if inf is None:
            return
        self.plan.add("spread", t, src, dst, attack=True, family="qakbot", account=self.weak_admin,
                      domain=self.org.netbios, share=share, rel=rel, sha=sha, how="task",
                      name="\\" + "{" + f"{r.getrandbits(32):08X}-{r.getrandbits(16):04X}-{r.getrandbits(16):04X}" + "}",
                      guid=inf.guid, pid=inf.pid, t_run=inf.time,
                      **self.logon_style(src, dst, t, self.org.netbios))
        self.q_infected(inf)

