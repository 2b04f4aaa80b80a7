/**
 * Download progress on stderr: on a terminal, one line redrawn in place (a bar, bytes, the file)
 * at most ten times a second; otherwise (a log, a pipe) one plain line per file finished, so
 * logs get no carriage returns or escape codes.
 */
import type { HubDownloadProgress } from '@mlxn/io';

/** `1.2 GB`, `340.5 MB`, `12 B` (decimal units, as the hub shows sizes). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export interface ProgressBar {
  update(event: HubDownloadProgress): void;
  /** Clears the line (terminal) once the download ended, whether it succeeded or not. */
  end(): void;
}

const WIDTH = 24;

export function downloadProgressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const tty = Boolean(stream.isTTY);
  let lastDraw = 0;
  let drawn = false;
  let lastFilesDone = -1;
  return {
    update(e) {
      if (!tty) {
        if (e.filesDone !== lastFilesDone && e.filesDone > 0 && e.fileBytes === e.fileTotal) {
          stream.write(
            `downloaded ${e.file} (${formatBytes(e.fileTotal)}), ${e.filesDone}/${e.files} files, ${formatBytes(e.bytes)} of ${formatBytes(e.total)}\n`,
          );
        }
        lastFilesDone = e.filesDone;
        return;
      }
      const now = Date.now();
      if (now - lastDraw < 100 && e.bytes < e.total) return;
      lastDraw = now;
      const frac = e.total > 0 ? e.bytes / e.total : 1;
      const filled = Math.round(frac * WIDTH);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}]`;
      stream.write(
        `\r\x1b[2KDownloading ${label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(e.bytes)} / ${formatBytes(e.total)}  ${e.file}`,
      );
      drawn = true;
    },
    end() {
      if (tty && drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
