/**
 * After vitest's own summary, one line per test that skipped itself with a
 * reason (`context.skip(note)`), e.g. the tuspy snippet on a machine without
 * python3-tuspy: a skip that says what to install is easy to miss among
 * hundreds of passing tests, and "1 skipped" alone does not say why.
 */
import type { Reporter, TestModule } from "vitest/node";

export default class SkipNotesReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    for (const module of testModules) {
      for (const test of module.children.allTests("skipped")) {
        const result = test.result();
        if (result.state !== "skipped" || !result.note) continue;
        process.stdout.write(`SKIPPED ${test.project.name} › ${test.fullName}: ${result.note}\n`);
      }
    }
  }
}
