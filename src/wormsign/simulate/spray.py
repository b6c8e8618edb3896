"""Password spray: one host tries many accounts (and names that are no accounts) with a password or two."""

from __future__ import annotations

from wormsign.simulate.creds import BAD_PASSWORD, NO_SUCH_USER
from wormsign.simulate.worm import MIN, Outbreak


class SprayOutbreak(Outbreak):
    def start(self) -> None:
        f = self.fam("spray")
        ws = self.org.workstations
        src = ws[self.r.randrange(len(ws))]
        servers = [h for h in self.org.hosts if h.role in ("dc", "fs", "app")]
        t = self.t0
        self.plan.sources.add(src.name)
        accounts = self.r.sample(self.org.users + self.org.admins,
                                 min(len(self.org.users) + len(self.org.admins), self.r.randint(*f["accounts"])))
        known = set(accounts)
        accounts += [g for g in f["guessed"] if g not in known]
        self.r.shuffle(accounts)
        pws = self.passwords[: self.r.randint(*f["passwords"])]
        for dst in self.r.sample(servers, min(len(servers), self.r.randint(*f["targets"]))):
            attempts = []
            start = t
            for pw in pws:
                for acc in accounts:
                    t += self.r.randint(*f["attempt_ms"])
                    attempts.append((t, acc, self.org.netbios, BAD_PASSWORD if acc in known else NO_SUCH_USER))
                t += 10 * MIN  # wait out the lockout window between rounds
                del pw
            self.plan.add("bruteforce", start, src, dst, attack=True, attempts=attempts)
            self.plan.attacked.add(dst.name)
