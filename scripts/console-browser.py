#!/usr/bin/env python3
"""Drives the operations console (/admin) in a real headless Chromium (Debian's chromium + chromium-driver, through
Selenium), the way a person uses it, against a running service with real data. Run by ConsoleBrowserTests.

  console-browser.py --base http://127.0.0.1:PORT --admin EMAIL --user EMAIL --password PW \
      --instance ID --dead-letter ID --order-dead-letter ID --order-message ID --lock NAME --lock-holder OWNER
      [--screenshots DIR]

Steps: the sign-in page for an anonymous visitor; a user without the admin role gets the 403 page; the admin signs
in and sees the dashboard's charts drawn with data (pushed over server-sent events); this instance live on
Instances; runs a job with "Run now" and sees the manual run appear, pauses a job fleet-wide and resumes it; sees the cache's breaker and namespaces, evicts
a key and then the products namespace;
replays an order event's dead letter on Queues (accepting the confirmation), sees its row go and its history say it
was handled; replays a poison message's dead letter, opens that message's history, then deletes the new dead letter
the poison message becomes; sees a held lock and its holder on Locks; looks a user up on Sessions and revokes their
session; every page also at a phone's width. Fails on any error the page's JavaScript raised or logged. Screenshots
of every page (1280x800 and 390x844) go to --screenshots.
Exit status 0 when every step passed; otherwise 1 and the step that failed.
"""
import argparse
import os
import re
import shutil
import sys
import time

try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        ElementClickInterceptedException, NoSuchElementException, StaleElementReferenceException, TimeoutException,
        WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as conditions
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    sys.exit("console-browser: selenium is missing (scripts/test-deps.sh installs it)")


class StepFailed(Exception):
    pass


def browser():
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(driver_path) or not os.path.exists(chromium):
        sys.exit("console-browser: chromium and chromium-driver are missing (scripts/test-deps.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,800", "--lang=en-US"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


class Console:
    def __init__(self, driver, base, screenshots):
        self.driver = driver
        self.base = base.rstrip("/")
        self.screenshots = screenshots
        # Generous: the service runs in the test process beside the rest of the suite, and a heavy neighbour (a
        # stock test with 16,000 concurrent orders) once kept the Locks page loading for over 20 s.
        self.wait = WebDriverWait(driver, 60)

    def open(self, path):
        self.driver.get(self.base + path)

    def until(self, what, condition):
        try:
            return self.wait.until(condition)
        except TimeoutException:
            raise StepFailed(f"{what} (page {self.driver.current_url}):\n{self.text()[:2000]}")

    def click(self, what, selector):
        # Pages re-render on their refresh timers: an element found just before a refresh is stale by the click.
        # Finding and clicking are retried together until one click lands (a stale element was never clicked).
        def clicked(driver):
            try:
                driver.find_element(By.CSS_SELECTOR, selector).click()
                return True
            except (NoSuchElementException, StaleElementReferenceException, ElementClickInterceptedException):
                return False

        self.until(what, clicked)

    def text(self):
        # The page may be between two documents (a reload after signing in): no text yet. Chromium reports a body
        # replaced under the call as stale, or as a node that "does not belong to the document".
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except (NoSuchElementException, StaleElementReferenceException, WebDriverException):
            return ""

    def loaded(self, what):
        def done(driver):
            try:
                return driver.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true"
            except (NoSuchElementException, StaleElementReferenceException, WebDriverException):
                return False

        self.until(what, done)

    def errors(self):
        # Errors of the page's JavaScript (exceptions, console.error). Answers the steps expect (the 403 page, the
        # refused password) show as network entries and are not errors of the page.
        return [entry for entry in self.driver.get_log("browser")
                if entry.get("level") == "SEVERE" and entry.get("source") != "network"]

    def shot(self, name):
        if not self.screenshots:
            return
        os.makedirs(self.screenshots, exist_ok=True)
        self.driver.set_window_size(1280, 800)
        self.driver.save_screenshot(os.path.join(self.screenshots, f"{name}.png"))
        self.driver.set_window_size(390, 844)
        time.sleep(0.2)
        # A phone's width: nothing may need a horizontal scroll outside the tables' own scrolling boxes.
        overflow = self.driver.execute_script(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth")
        self.driver.save_screenshot(os.path.join(self.screenshots, f"{name}-phone.png"))
        self.driver.set_window_size(1280, 800)
        if overflow:
            raise StepFailed(f"{name}: the page is wider than a phone's screen")

    def sign_in(self, email, password):
        form = self.until("the sign-in form", conditions.presence_of_element_located((By.ID, "sign-in")))
        form.find_element(By.ID, "email").send_keys(email)
        form.find_element(By.ID, "password").send_keys(password)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def sign_out(self):
        self.until("a sign-out button", conditions.element_to_be_clickable((By.ID, "sign-out"))).click()
        self.until("the sign-in page after signing out", conditions.presence_of_element_located((By.ID, "sign-in")))


def run(arguments):
    driver = browser()
    console = Console(driver, arguments.base, arguments.screenshots)
    try:
        step = "anonymous visitors get the sign-in page"
        console.open("/admin/jobs")
        console.until(step, conditions.presence_of_element_located((By.ID, "sign-in")))
        console.shot("sign-in")

        step = "a user without the admin role gets the 403 page"
        console.sign_in(arguments.user, arguments.password)
        console.until(step, lambda d: "needs the admin role" in console.text())
        console.shot("forbidden")
        console.sign_out()

        step = "a wrong password is refused on the page"
        console.sign_in(arguments.admin, arguments.password + "-wrong")
        console.until(step, conditions.visibility_of_element_located((By.ID, "sign-in-error")))

        step = "the admin signs in and sees the dashboard's charts drawn with the fleet's figures, pushed live"
        console.open("/admin")
        console.driver.find_element(By.ID, "email").clear()
        console.sign_in(arguments.admin, arguments.password)
        console.loaded(step)
        for chart in ("orders", "queue", "cache", "latency", "requests"):
            console.until(f"{step}: the {chart} chart", conditions.presence_of_element_located(
                (By.CSS_SELECTOR, f"#chart-{chart} svg path.series")))
        # The order placed before the browser came, the dead letter, the requests' latency: lines above zero. The
        # snapshot is pushed again every few seconds, so wait for one that has them all.
        def charted(selector, attribute):
            def check(driver):
                return any(float(path.get_attribute(attribute) or 0) >= 1
                           for path in driver.find_elements(By.CSS_SELECTOR, selector))
            return check
        console.until(f"{step}: an order charted", charted("#chart-orders path.series.a", "data-max"))
        console.until(f"{step}: the dead letter charted", charted("#chart-queue path.series.c", "data-max"))
        console.until(f"{step}: latency charted", charted("#chart-latency path.series.b", "data-points"))
        console.shot("dashboard")

        step = "Instances shows this instance live"
        console.open("/admin/instances")
        console.until(step, lambda d: arguments.instance in console.text() and "live" in console.text())
        console.loaded(step)
        console.shot("instances")

        step = "keyboard: the navigation is reachable with Tab and leads to Jobs"
        jobs_link = driver.find_element(By.CSS_SELECTOR, 'nav a[href="/admin/jobs"]')
        body = driver.find_element(By.TAG_NAME, "body")
        reached = False
        for _ in range(10):
            body = driver.switch_to.active_element
            body.send_keys("\ue004")  # Tab
            if driver.switch_to.active_element == jobs_link:
                reached = True
                break
        if not reached:
            raise StepFailed(step)
        driver.switch_to.active_element.send_keys("\ue007")  # Enter

        step = "Run now starts a job and its run appears"
        console.until(step, lambda d: "/admin/jobs" in d.current_url)
        console.loaded(step)
        button = console.until(step, conditions.element_to_be_clickable(
            (By.CSS_SELECTOR, 'button.run[data-job="daily-sales"]')))
        button.click()
        console.until(step, lambda d: "Started daily-sales." in console.text())
        console.until(step, lambda d: "(manual)" in console.text())
        step = "Pause stops a job on every instance after a confirmation, and Resume starts it again"
        console.click(step, 'button.pause[data-job="cleanup"]')
        console.until(step, conditions.alert_is_present()).accept()
        console.until(step, lambda d: "Paused cleanup on every instance." in console.text())
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, 'button.resume[data-job="cleanup"]')))
        console.shot("jobs")
        console.click(step, 'button.resume[data-job="cleanup"]')
        console.until(step, lambda d: "Resumed cleanup on every instance." in console.text())
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, 'button.pause[data-job="cleanup"]')))

        step = "Caches shows the breaker closed and the products namespace"
        console.open("/admin/caches")
        console.loaded(step)
        console.until(step, lambda d: "closed: Redis in use" in console.text())
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-namespace="products"]')))

        step = "Caches charts the fleet's last hour per namespace, with the test's product reads"
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, "#chart-cache-namespaces svg path")))
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, "#chart-cache-trouble svg")))
        hits = re.compile(r"\b[1-9][0-9,]* hits?\b")

        def products_hit(d):
            # The page re-renders every 5 s: a row found before a refresh may be gone when its text is read.
            try:
                return any(hits.search(row.text) for row in
                           d.find_elements(By.CSS_SELECTOR, 'tr[data-fleet-namespace="products"]'))
            except (StaleElementReferenceException, WebDriverException):
                return False
        console.until(step, products_hit)
        console.shot("caches")

        step = "Caches: evict one key, then the products namespace after a confirmation"
        field = console.until(step, conditions.element_to_be_clickable((By.ID, "evict-key")))
        field.send_keys("console-key")
        field.send_keys("\ue007")  # Enter submits
        console.until(step, lambda d: "Evicted console-key from products." in console.text())
        console.click(step, 'button.evict-namespace[data-namespace="products"]')
        console.until(step, conditions.alert_is_present()).accept()
        console.until(step, lambda d: "Evicted the products namespace." in console.text())

        step = "the dead letters are listed on Queues"
        console.open("/admin/queues")
        console.loaded(step)
        row = f'tr[data-dead-letter="{arguments.dead_letter}"]'
        order_row = f'tr[data-dead-letter="{arguments.order_dead_letter}"]'
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, row)))
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, order_row)))
        console.shot("queues")

        step = "Replay of the order's dead letter: it leaves the list, and its history says the replay was handled"
        console.click(step, order_row + " button.replay")
        console.until(step, conditions.alert_is_present()).accept()
        console.until(step, lambda d: f"Replayed {arguments.order_dead_letter}." in console.text())
        console.until(step, lambda d: not d.find_elements(By.CSS_SELECTOR, order_row))
        field = console.until(step, conditions.element_to_be_clickable((By.ID, "message-id")))
        field.send_keys(arguments.order_message)
        field.send_keys("\ue007")  # Enter shows the history
        console.until(step, conditions.presence_of_element_located(
            (By.CSS_SELECTOR, '#message-history li[data-event="handled"]')))
        console.click(step, "#message-history button.secondary")  # Close
        console.until(step, lambda d: not d.find_elements(By.ID, "message-history"))

        step = "Replay asks for confirmation, and the dead letter leaves the list"
        console.click(step, row + " button.replay")
        console.until(step, conditions.alert_is_present()).accept()
        console.until(step, lambda d: f"Replayed {arguments.dead_letter}." in console.text())
        console.until(step, lambda d: not d.find_elements(By.CSS_SELECTOR, row))

        step = "the poison message comes back as a new dead letter, and Delete removes it after a confirmation"
        again = console.until(step, lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "tr[data-dead-letter]")), None))
        again_id = again.get_attribute("data-dead-letter")

        step = "History shows the message's failures, dead letters and the replay"
        console.click(step, f'tr[data-dead-letter="{again_id}"] button.history')
        for kind in ("failed", "dead-lettered", "replayed"):
            console.until(step, conditions.presence_of_element_located(
                (By.CSS_SELECTOR, f'#message-history li[data-event="{kind}"]')))
        console.shot("queues-message-history")

        step = "the poison message's new dead letter: Delete removes it after a confirmation, and its history says so"
        console.click(step, f'tr[data-dead-letter="{again_id}"] button.delete')
        console.until(step, conditions.alert_is_present()).accept()
        console.until(step, lambda d: f"Deleted {again_id}." in console.text())
        console.until(step, lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-dead-letter="{again_id}"]'))
        console.until(step, conditions.presence_of_element_located(
            (By.CSS_SELECTOR, '#message-history li[data-event="deleted"]')))

        step = "Locks shows the held lock, its holder and its fencing token"
        console.open("/admin/locks")
        console.loaded(step)
        lock_row = f'tr[data-lock="{arguments.lock}"]'
        row_element = console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, lock_row)))
        if arguments.lock_holder not in row_element.text:
            raise StepFailed(f"{step}: the row says {row_element.text!r}")
        console.shot("locks")

        step = "Sessions: look the user up by e-mail and revoke their session"
        console.open("/admin/sessions")
        console.loaded(step)
        console.until(step, lambda d: "active session" in console.text())
        field = console.until(step, conditions.element_to_be_clickable((By.ID, "session-email")))
        field.send_keys(arguments.user)
        field.send_keys("\ue007")  # Enter submits the look-up
        session_row = "tr[data-session]"
        console.until(step, conditions.presence_of_element_located((By.CSS_SELECTOR, session_row)))
        console.shot("sessions")
        handle = driver.find_element(By.CSS_SELECTOR, session_row).get_attribute("data-session")
        console.click(step, f'tr[data-session="{handle}"] button.revoke')
        console.until(step, conditions.alert_is_present()).accept()
        console.until(step, lambda d: f"Revoked session {handle}." in console.text())
        console.until(step, lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-session="{handle}"]'))

        step = "no JavaScript errors"
        errors = console.errors()
        if errors:
            raise StepFailed(step + ":\n" + "\n".join(entry["message"] for entry in errors))
        print("console-browser: every step passed")
        return 0
    except StepFailed as failure:
        print(f"console-browser: step failed: {failure}", file=sys.stderr)
        return 1
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description="Drive /admin in headless Chromium")
    parser.add_argument("--base", required=True)
    parser.add_argument("--admin", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--dead-letter", required=True, help="a poison message's dead letter (fails again when replayed)")
    parser.add_argument("--order-dead-letter", required=True, help="an order event's dead letter that a replay handles")
    parser.add_argument("--order-message", required=True, help="that order event's message id")
    parser.add_argument("--lock", required=True)
    parser.add_argument("--lock-holder", required=True)
    parser.add_argument("--screenshots")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
