export const run = async (_ms: number) => {}
