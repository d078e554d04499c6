// AudioWorklet: collects the mic input (already resampled to the context's
// 16 kHz by the browser) into fixed-size Float32 frames and posts them to
// the main thread, which converts them to Int16 and sends them.
class MicCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const size = options && options.processorOptions && options.processorOptions.frameSize;
    this.size = size > 0 ? size : 512;
    this.buf = new Float32Array(this.size);
    this.n = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      let i = 0;
      while (i < channel.length) {
        const take = Math.min(channel.length - i, this.size - this.n);
        this.buf.set(channel.subarray(i, i + take), this.n);
        this.n += take;
        i += take;
        if (this.n === this.size) {
          this.port.postMessage(this.buf, [this.buf.buffer]);
          this.buf = new Float32Array(this.size);
          this.n = 0;
        }
      }
    }
    return true; // keep running even while the input is silent or absent
  }
}

registerProcessor('mic-capture', MicCapture);
