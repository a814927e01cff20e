/**
 * The METRICS binding as the library Worker wraps it (createTusGateway's
 * `wrapMetrics`): every data point goes to the real local binding and is
 * also kept here, in the module the tests import, since local Analytics
 * Engine keeps nothing one could read back. The Worker, its Durable Objects
 * and the tests run in one isolate under @cloudflare/vitest-plugin, so they
 * share this list.
 */
export const recordedPoints: AnalyticsEngineDataPoint[] = [];

export function recordingMetrics(dataset: AnalyticsEngineDataset): AnalyticsEngineDataset {
  return {
    writeDataPoint(point) {
      if (point) recordedPoints.push(structuredClone(point));
      dataset.writeDataPoint(point);
    },
  };
}
