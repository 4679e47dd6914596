export interface BenchOptions { modes: string[]; events: number[]; runs: number; seed: number; users: number; distribution: string; rulesPath?: string; outDir: string; threads?: number; batchSize?: number; partitions?: number }
export async function runBench(_o: BenchOptions): Promise<number> { throw new Error('bench: not implemented yet'); }
