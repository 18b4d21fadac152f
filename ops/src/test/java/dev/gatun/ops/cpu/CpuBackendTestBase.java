package dev.gatun.ops.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.util.concurrent.ForkJoinPool;

/** One CPU backend per test class, on a pool of 3 (more tasks than this machine's cores, so splits are exercised). */
abstract class CpuBackendTestBase {
    static ForkJoinPool pool;
    static CpuBackend backend;

    @BeforeAll
    static void start() {
        pool = new ForkJoinPool(3);
        backend = new CpuBackend(pool);
    }

    @AfterAll
    static void stop() {
        backend.close();
        pool.shutdown();
    }
}
