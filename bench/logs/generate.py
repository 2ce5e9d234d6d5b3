#!/usr/bin/env python3
"""Write a Spring Boot 3 style log of about SIZE_MB megabytes to PATH (deterministic).

Mix per 1000 events: ~930 INFO, ~40 DEBUG, ~20 WARN, ~10 ERROR; a third of the errors carry a
Java stack trace of 6-12 lines; messages carry ids, amounts, UUIDs and durations that
fingerprinting must mask.   usage: generate.py PATH SIZE_MB
"""
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

path, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261125)
start = datetime(2024, 1, 15, 0, 0, 0, tzinfo=timezone(timedelta(hours=8)))
loggers = ["c.g.web.MemberController", "c.g.web.CheckinController", "c.g.pay.PaymentService",
           "o.h.engine.jdbc.spi.SqlExceptionHelper", "com.zaxxer.hikari.pool.HikariPool",
           "o.s.web.servlet.DispatcherServlet", "c.g.schedule.ClassScheduler"]
threads = ["http-nio-8080-exec-%d" % i for i in range(1, 21)] + ["scheduling-1", "HikariPool-1 housekeeper"]
info = ["Member {id} checked in at gate-{g}", "Payment {uuid} of {amt} CNY accepted",
        "Completed GET /springboot1ngh61a2/member/{id} in {ms} ms", "Class {id} booked by member {id2}",
        "Cache refreshed: {n} entries in {ms} ms"]
warn = ["HikariPool-1 - Connection is not available, request timed out after {ms}ms.",
        "Slow query took {ms} ms: select * from checkin where member_id={id}",
        "Retrying payment {uuid} (attempt {n})"]
error = ["Member {id} not found", "Payment {uuid} failed: gateway timeout after {ms} ms",
         "Could not open JPA EntityManager for transaction; nested exception is {exc}",
         "Request processing failed; nested exception is java.lang.NullPointerException"]
frames = ["\tat com.gym.pay.PaymentService.charge(PaymentService.java:{n})",
          "\tat com.gym.web.MemberController.get(MemberController.java:{n})",
          "\tat org.springframework.aop.framework.ReflectiveMethodInvocation.proceed(ReflectiveMethodInvocation.java:{n})",
          "\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:{n})",
          "\tat java.base/java.lang.Thread.run(Thread.java:833)"]


def fill(template):
    return template.format(id=rng.randint(1, 10**6), id2=rng.randint(1, 10**6), g=rng.randint(1, 17),
                           uuid=uuid.UUID(int=rng.getrandbits(128)), amt="%.2f" % (rng.random() * 900),
                           ms=rng.randint(3, 40000), n=rng.randint(1, 900),
                           exc="org.hibernate.exception.JDBCConnectionException: Unable to acquire JDBC Connection")


target = size_mb * 1024 * 1024
written = 0
t = start
with open(path, "w") as out:
    while written < target:
        t += timedelta(milliseconds=rng.randint(1, 400))
        roll = rng.random()
        level, pool = ("INFO", info)
        if roll < 0.010:
            level, pool = ("ERROR", error)
        elif roll < 0.030:
            level, pool = ("WARN", warn)
        elif roll < 0.070:
            level, pool = ("DEBUG", info)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+08:00" % (t.microsecond // 1000)
        line = "%s %5s 1 --- [gym] [%15s] %-40s : %s\n" % (stamp, level, rng.choice(threads)[-15:],
                                                          rng.choice(loggers), fill(rng.choice(pool)))
        if level == "ERROR" and rng.random() < 0.33:
            line += "java.lang.IllegalStateException: " + fill("payment {uuid} rejected") + "\n"
            line += "".join(fill(rng.choice(frames)) + "\n" for _ in range(rng.randint(5, 11)))
        out.write(line)
        written += len(line)
