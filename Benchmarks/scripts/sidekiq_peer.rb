# bench-queue's Sidekiq peer: PROCESSES `sidekiq -c CONCURRENCY` processes on a private Redis, then JOBS no-op
# jobs pushed by one producer with push_bulk (batches of 1,000), timed from the first push until the queue is
# empty. The at most PROCESSES x CONCURRENCY no-op jobs still running then take microseconds; every job's
# completion is then checked in Sidekiq's own processed counter (flushed at its heartbeat, outside the timing).
#
#   ruby sidekiq_peer.rb URL JOBS PROCESSES CONCURRENCY
# Prints `RESULT sidekiq=<version> jobs=<n> processes=<p> concurrency=<c> jobs_per_s=<x>`.
url, jobs, processes, concurrency = ARGV[0], Integer(ARGV[1]), Integer(ARGV[2]), Integer(ARGV[3])
ENV["REDIS_URL"] = url
require_relative "sidekiq_jobs"
require "sidekiq/api"

def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

def wait_for(what, seconds)
  deadline = monotonic + seconds
  until yield
    abort "sidekiq peer: #{what} did not happen within #{seconds} s" if monotonic > deadline
    sleep 0.002
  end
end

Sidekiq.redis(&:flushdb)
jobs_file = File.expand_path("sidekiq_jobs.rb", __dir__)
log = File.open(ENV.fetch("SIDEKIQ_LOG", File::NULL), "a")
pids = Array.new(processes) do
  spawn({ "REDIS_URL" => url, "RUBYOPT" => "-W0" },
        "sidekiq", "-c", concurrency.to_s, "-q", "default", "-r", jobs_file, out: log, err: log)
end
begin
  wait_for("#{processes} Sidekiq processes starting", 60) { Sidekiq::ProcessSet.new.size >= processes }
  started = monotonic
  (0...jobs).each_slice(1000) do |slice|
    Sidekiq::Client.push_bulk("class" => NoopJob, "args" => slice.map { |index| [index] })
  end
  wait_for("draining the queue", 600) { Sidekiq.redis { |redis| redis.llen("queue:default") }.zero? }
  elapsed = monotonic - started
  wait_for("every job counted as processed", 30) { Sidekiq::Stats.new.processed >= jobs }
  failed = Sidekiq::Stats.new.failed
  abort "sidekiq peer: #{failed} jobs failed" if failed.positive?
  puts format("RESULT sidekiq=%s jobs=%d processes=%d concurrency=%d jobs_per_s=%.0f",
              Sidekiq::VERSION, jobs, processes, concurrency, jobs / elapsed)
ensure
  pids.each { |pid| Process.kill("TERM", pid) rescue nil }
  pids.each { |pid| Process.wait(pid) rescue nil }
end
